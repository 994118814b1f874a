"""Test helper: an HTTP proxy in front of a storage server that injects faults.

  faulty_proxy.py PORT UPSTREAM_PORT STATS_FILE [--every N] [--mode 503|drop|lost|mixed]
                  [--fail-path TEXT] [--lose-put TEXT] [--delay-ms MS]

Every Nth request (counting all requests) gets a fault instead of the upstream's answer:
`503` answers 503 Service Unavailable (throttling), `drop` closes the connection without
answering (a reset mid-request), `lost` passes the request on and then closes the connection
without passing the answer back (the request took effect, the client cannot know), `mixed`
rotates the three. With --fail-path, every request whose
path contains TEXT gets 500 (a blob that keeps failing). With --lose-put, the first attempt
of every PUT whose path contains TEXT (each path and body once) is passed on and its answer
lost, as `lost` does; a retry of the same PUT gets through. STATS_FILE holds the number of faults
injected so far, so a test can check faults did happen. --delay-ms holds every answer back
(a slow link), so a test can interrupt a run midway.
"""
import argparse
import http.client
import http.server
import socket
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("upstream", type=int)
ap.add_argument("stats")
ap.add_argument("--every", type=int, default=0)
ap.add_argument("--mode", default="mixed", choices=["503", "drop", "lost", "mixed"])
ap.add_argument("--fail-path", default=None)
ap.add_argument("--lose-put", default=None)
ap.add_argument("--delay-ms", type=int, default=0)
args = ap.parse_args()

lock = threading.Lock()
state = {"requests": 0, "faults": 0}
lost = set()


def fault_now():
    with lock:
        state["requests"] += 1
        n = state["requests"]
        if args.every and n % args.every == 0:
            state["faults"] += 1
            open(args.stats, "w").write(str(state["faults"]))
            if args.mode == "mixed":
                return ["503", "drop", "lost"][(n // args.every) % 3]
            return args.mode
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def forward(self):
        time.sleep(args.delay_ms / 1000)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if args.fail_path and args.fail_path in self.path:
            with lock:
                state["faults"] += 1
                open(args.stats, "w").write(str(state["faults"]))
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        f = fault_now()
        if args.lose_put and self.command == "PUT" and args.lose_put in self.path:
            with lock:
                key = (self.path, body)
                if key not in lost:
                    lost.add(key)
                    state["faults"] += 1
                    open(args.stats, "w").write(str(state["faults"]))
                    f = "lost"
        if f == "drop":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if f == "503":
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        up = http.client.HTTPConnection("127.0.0.1", args.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items()}
        up.request(self.command, self.path, body=body, headers=headers)
        r = up.getresponse()
        data = r.read()
        if f == "lost":
            up.close()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.send_response(r.status, r.reason)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        up.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


open(args.stats, "w").write("0")
http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
