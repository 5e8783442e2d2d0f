// A VCD notification listener written the way the widely used Node client is
// (VCD-COMPAT section 12.2, form B): OpenAPI login with version 35.0, then MQTT over
// wss with no Authorization header, username user@org and the JWT as password,
// client id js_mqtt_<8 hex>, clean session, QoS 0, no reconnects.
//
// Prints "READY <topic> <granted>", then "MESSAGE <json>" per message; exits 0 after
// --count messages, or non-zero on a refused CONNECT ("CONNACK <code>") or timeout.
// The CA comes from NODE_EXTRA_CA_CERTS and --cafile.
import fs from 'node:fs';
import crypto from 'node:crypto';
import mqtt from 'mqtt';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, all) => {
  if (v.startsWith('--')) acc.push([v.slice(2), all[i + 1]]);
  return acc;
}, []));
const count = Number(args.count ?? 1);
const [user, org] = [args.user.slice(0, args.user.lastIndexOf('@')), args.user.slice(args.user.lastIndexOf('@') + 1)];
const base = `https://${args.host}`;
const path = '/cloudapi/1.0.0/sessions' + (org.toLowerCase() === 'system' ? '/provider' : '');

const res = await fetch(base + path, {
  method: 'POST',
  headers: {
    Authorization: 'Basic ' + Buffer.from(`${args.user}:${args.password}`).toString('base64'),
    Accept: 'application/json;version=35.0',
  },
});
if (res.status !== 200) {
  console.log(`LOGIN ${res.status}`);
  process.exit(2);
}
const session = await res.json();
const token = args.token ?? res.headers.get('x-vmware-vcloud-access-token');
const orgId = session.org.id.split(':').pop();
const userId = session.user.id.split(':').pop();
const topic = args.topic ?? `publish/${orgId}/${userId}`;

const client = mqtt.connect(`wss://${args.host}/messaging/mqtt`, {
  protocolVersion: 4,
  clientId: 'js_mqtt_' + crypto.randomBytes(4).toString('hex'),
  clean: true,
  keepalive: 60,
  username: args.username ?? args.user,
  password: token,
  ca: fs.readFileSync(args.cafile),
  reconnectPeriod: 0,
  connectTimeout: 10000,
});
const timer = setTimeout(() => { console.log('TIMEOUT'); process.exit(3); }, Number(args.timeout ?? 30) * 1000);
let seen = 0;
client.on('connect', () => {
  client.subscribe(topic, { qos: 0 }, (err, granted) => {
    if (err) { console.log(`SUBSCRIBE-ERROR ${err.message}`); process.exit(4); }
    console.log(`READY ${topic} ${granted.map((g) => g.qos).join(' ')}`);
  });
});
client.on('message', (t, payload) => {
  console.log('MESSAGE ' + JSON.stringify({ topic: t, envelope: JSON.parse(payload.toString('utf8')) }));
  if (++seen >= count) {
    clearTimeout(timer);
    client.end(false, () => process.exit(0));
  }
});
client.on('error', (err) => {
  // A refused CONNECT: the client closes cleanly and exits, never hangs.
  console.log(`CONNACK ${err.code ?? err.message}`);
  clearTimeout(timer);
  client.end(true, () => process.exit(5));
});
