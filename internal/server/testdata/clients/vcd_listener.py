#!/usr/bin/env python3
"""A VCD notification listener written the way widely copied scripts are (VCD-COMPAT
section 12.1, form A): legacy XML discovery first, then MQTT over WebSocket with the
JWT in an Authorization: Bearer header, client id PythonMQTT, clean session, QoS 0.

It prints one line per step ("READY <topic> <granted>", then "MESSAGE <json>") so a
test can drive it, and parses each message as those scripts do: delete every
backslash, take the text after the first 'payload":"', drop the last two characters
and json.loads the rest. It exits after --count messages, or 1 after --timeout.
"""
import argparse
import base64
import json
import ssl
import sys
import threading
import urllib.request
import xml.etree.ElementTree as ET

import paho.mqtt.client as mqtt

NS = "{http://www.vmware.com/vcloud/v1.5}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)  # host:port
    ap.add_argument("--user", required=True)  # user@org
    ap.add_argument("--password", required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--scope", choices=["own", "org", "all"], default="own")
    ap.add_argument("--extra", default="")  # another filter to ask for, to see it refused
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()

    ctx = ssl.create_default_context(cafile=a.cafile)
    base = "https://" + a.host

    def call(method, path, headers):
        req = urllib.request.Request(base + path, method=method, headers=headers)
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.headers, r.read()

    # Step 1: versions, and the check those scripts make (strings compared!).
    _, body = call("GET", "/api/versions", {})
    versions = [v.text for v in ET.fromstring(body).iter("{http://www.vmware.com/vcloud/versions}Version")]
    if not versions or max(versions) < "34.0":
        sys.exit("no supported API version: %r" % versions)

    # Step 2: OpenAPI login; /provider for the System org.
    user, org = a.user.rsplit("@", 1)
    path = "/cloudapi/1.0.0/sessions" + ("/provider" if org.lower() == "system" else "")
    basic = base64.b64encode(a.user.encode() + b":" + a.password.encode()).decode()
    headers, _ = call("POST", path, {"Authorization": "Basic " + basic, "Accept": "application/json;version=36.0"})
    token = headers["X-VMWARE-VCLOUD-ACCESS-TOKEN"]

    # Steps 3-4: the session XML and the org list, to find the UUIDs of the topic.
    auth = {"Authorization": "Bearer " + token, "Accept": "application/*+xml;version=36.0"}
    call("GET", "/api/versions", {})
    _, body = call("GET", "/api/session", auth)
    session = ET.fromstring(body)
    org_links = [l for l in session.iter(NS + "Link") if l.get("type") == "application/vnd.vmware.vcloud.org+xml"]
    if len(org_links) > 1:
        sys.exit("more than one org link in the session")
    user_uuid = session.get("userId").split(":")[-1]
    _, body = call("GET", "/api/org/", auth)
    org_uuid = None
    for o in ET.fromstring(body).iter(NS + "Org"):
        _, ob = call("GET", o.get("href")[len(base):], auth)
        org_el = ET.fromstring(ob)
        if org_el.get("name").lower() == session.get("org").lower():
            org_uuid = org_el.get("id").split("org:")[-1]
    if org_uuid is None:
        sys.exit("own org not found in the org list")
    topic = {"own": "publish/%s/%s" % (org_uuid, user_uuid), "org": "publish/%s/*" % org_uuid, "all": "publish/#"}[a.scope]

    # Steps 5-7: MQTT over WebSocket with the Bearer header.
    done = threading.Event()
    seen = [0]
    client = mqtt.Client(client_id="PythonMQTT", clean_session=True, transport="websockets")
    client.ws_set_options(path="/messaging/mqtt", headers={"Authorization": "Bearer " + token})
    client.tls_set_context(ctx)

    def on_connect(c, userdata, flags, rc):
        if rc != 0:
            print("CONNACK %d" % rc, flush=True)
            done.set()
            return
        filters = [(topic, 0)] + ([(a.extra, 0)] if a.extra else [])
        c.subscribe(filters)

    def on_subscribe(c, userdata, mid, granted):
        print("READY %s %s" % (topic, " ".join(str(g) for g in granted)), flush=True)

    def on_message(c, userdata, msg):
        text = msg.payload.decode("utf-8").replace("\\", "")
        inner = json.loads(text.split('payload":"', 1)[1][:-2])
        print("MESSAGE " + json.dumps({"topic": msg.topic, "inner": inner}), flush=True)
        seen[0] += 1
        if seen[0] >= a.count:
            done.set()

    def on_disconnect(c, userdata, rc):
        print("DISCONNECTED %d" % rc, flush=True)
        done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    host, port = a.host.rsplit(":", 1)
    client.connect(host, int(port), keepalive=60)
    client.loop_start()
    ok = done.wait(a.timeout)
    client.loop_stop()
    sys.exit(0 if ok and seen[0] >= a.count else 1)


if __name__ == "__main__":
    main()
