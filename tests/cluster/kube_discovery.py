"""The discovery documents of a Kubernetes API server, for `kubectl apply --dry-run=client`.

Usage: kube_discovery.py PORT

kubectl maps each manifest's kind to a resource through the server's discovery endpoints even
for a client-side dry run, and no API server runs here. This serves those documents, in the
shapes of the Kubernetes API reference (APIVersions, APIGroupList, APIResourceList), for the
kinds flowlake's manifests use; any other path is a NotFound Status, which is what a dry run
of `apply` expects for objects that do not exist yet.
"""
import http.server
import json
import sys


def resource(name, kind, namespaced=True):
    return {"name": name, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}


def resources(group_version, items):
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": items}


DOCS = {
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
    "/api/v1": resources("v1", [resource("namespaces", "Namespace", False),
                                resource("services", "Service"),
                                resource("serviceaccounts", "ServiceAccount"),
                                resource("configmaps", "ConfigMap")]),
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1",
              "groups": [{"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                          "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}},
                         {"name": "networking.k8s.io",
                          "versions": [{"groupVersion": "networking.k8s.io/v1", "version": "v1"}],
                          "preferredVersion": {"groupVersion": "networking.k8s.io/v1", "version": "v1"}}]},
    "/apis/apps/v1": resources("apps/v1", [resource("deployments", "Deployment")]),
    "/apis/networking.k8s.io/v1": resources("networking.k8s.io/v1",
                                            [resource("networkpolicies", "NetworkPolicy")]),
}
NOT_FOUND = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
             "code": 404, "message": "not found"}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        doc = DOCS.get(self.path.split("?")[0])
        body = json.dumps(doc or NOT_FOUND).encode()
        self.send_response(200 if doc else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
