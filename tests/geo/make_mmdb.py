"""Small MaxMind-format databases for the location tests, with Python's mmdb-writer.

Usage: python3 tests/geo/make_mmdb.py OUT_DIR

Writes, in the shapes of the published files (IPv6 trees with the IPv4 space at ::/96 and
::ffff:0:0/96, so IPv4 and IPv4-mapped IPv6 addresses both resolve):
  city.mmdb    database_type "GeoLite2-City": country {iso_code, names.en}, city {names.en}
  asn.mmdb     database_type "GeoLite2-ASN": autonomous_system_number, autonomous_system_organization
  ipinfo.mmdb  database_type "ipinfo lite.mmdb": country_code, country, asn ("AS…"), as_name
and prints what each address must resolve to as JSON (read back with the official reader).
"""
import json
import os
import sys

import maxminddb
from mmdb_writer import MMDBWriter
from netaddr import IPSet

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

CITY = {
    "185.220.101.0/24": ("DE", "Germany", "Frankfurt am Main"),
    "103.224.182.0/24": ("SG", "Singapore", "Singapore"),
    "45.95.147.0/24": ("NL", "Netherlands", "Amsterdam"),
    "2a01:4f8::/32": ("DE", "Germany", "Falkenstein"),
    # the scenario's legitimate destinations: storage, registry and analytics; the SaaS
    "20.60.0.0/14": ("NL", "Netherlands", "Amsterdam"),
    "52.100.0.0/16": ("IE", "Ireland", "Dublin"),
}
ASN = {
    "185.220.101.0/24": (208294, "Example Ltd"),
    "103.224.182.0/24": (133618, "Trellian Pty. Limited"),
    "45.95.147.0/24": (49870, "Alsycon B.V."),
    "2a01:4f8::/32": (24940, "Hetzner Online GmbH"),
    "20.60.0.0/14": (8075, "Microsoft Corporation"),
    "52.100.0.0/16": (16509, "Amazon.com, Inc."),
}
IPINFO = {
    "94.140.14.0/24": ("CY", "Cyprus", "AS212772", "AdGuard Software Limited"),
}


def write(name, database_type, rows):
    w = MMDBWriter(ip_version=6, database_type=database_type, languages=["en"],
                   description={"en": f"flowlake test {database_type}"}, ipv4_compatible=True)
    for net, record in rows.items():
        w.insert_network(IPSet([net]), record)
    path = os.path.join(out, name)
    w.to_db_file(path)
    return path


write("city.mmdb", "GeoLite2-City", {
    net: {"country": {"iso_code": iso, "names": {"en": country}}, "city": {"names": {"en": city}}}
    for net, (iso, country, city) in CITY.items()})
write("asn.mmdb", "GeoLite2-ASN", {
    net: {"autonomous_system_number": n, "autonomous_system_organization": org}
    for net, (n, org) in ASN.items()})
write("ipinfo.mmdb", "ipinfo lite.mmdb", {
    net: {"country_code": iso, "country": country, "asn": asn, "as_name": name}
    for net, (iso, country, asn, name) in IPINFO.items()})

# What the official reader returns, for the test to compare with.
expect = {}
for addr in ["185.220.101.45", "::ffff:185.220.101.45", "103.224.182.250", "45.95.147.236",
             "2a01:4f8:c0c:1234::1", "94.140.14.14", "8.8.8.8"]:
    with maxminddb.open_database(os.path.join(out, "city.mmdb")) as r:
        c = r.get(addr)
    with maxminddb.open_database(os.path.join(out, "asn.mmdb")) as r:
        a = r.get(addr)
    with maxminddb.open_database(os.path.join(out, "ipinfo.mmdb")) as r:
        i = r.get(addr)
    expect[addr] = {
        "country": c["country"]["iso_code"] if c else None,
        "country_name": c["country"]["names"]["en"] if c else None,
        "city": c["city"]["names"]["en"] if c else None,
        "asn": a["autonomous_system_number"] if a else None,
        "as_org": a["autonomous_system_organization"] if a else None,
        "ipinfo_country": i["country_code"] if i else None,
        "ipinfo_asn": i["asn"] if i else None,
    }
print(json.dumps(expect))
