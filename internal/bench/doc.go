// Package bench is herald-bench, herald's load tool (issue 7). It drives a running
// herald on this machine the way VCD clients do, and the same workload against
// Debian's mosquitto (websockets listener, no auth), so that each figure is a ratio
// measured in one session. It only ever connects to loopback addresses, and every
// load loop is bounded in count and time.
//
// # Commands
//
//	herald-bench fanout        -rate 1000,5000,0 -qos 0 [-via mqtt|rest]
//	herald-bench slow-consumer -rate 2000 -slow-delay 0
//	herald-bench idle          -conns 2000,5000,10000,19000 -src 127.0.0.1,127.0.0.2
//	herald-bench connect-storm -conns 20000 -workers 8,32,64,128 -src 127.0.0.1,…,127.0.0.8
//	herald-bench metrics       -orgs 10 -vapps 100 -vms 10 -rate 100000 -interval 5s
//	herald-bench plot          [-scenario idle] [-o idle.png] herald.jsonl mosquitto.jsonl
//	herald-bench null-server   -addr 127.0.0.1:0
//
// -rate, idle's -conns and connect-storm's -workers take one value or
// comma-separated steps, one result each: idle's steps are running totals (the
// connections of a step stay open through the next, so memory is measured against
// connections open), connect-storm runs one storm of -conns per -workers step, each
// after the server has closed the last one's connections. plot draws the two
// charts of one scenario (fanout, slow-consumer, idle or connect-storm; by default
// that of the first result), one line per target. metrics is herald only: VM
// samples posted through the API and the METRICS envelopes they become.
//
// Each load command takes -target herald (default; -url, -admin and
// HERALD_ADMIN_PASSWORD) or -target mosquitto (a private mosquitto is started on a
// free loopback port and stopped afterwards, unless -ws-url names a running one),
// and prints a table, or with -json one JSON object per result (Result) for plot
// and scripts. connect-storm and idle also take -target null: the tool starts its
// own null-server, an MQTT-over-WebSocket server that only answers (nullserver.go),
// whose figures are what the harness can show on this machine at all.
// "herald-bench <command> -h" lists every flag.
//
// # What a run does
//
// Provisioning (herald): as the system administrator, through the REST API
// (VCD-COMPAT §5), create or reuse orgs bench-org-N, each with users bench-user-N
// (vApp User) and bench-admin (Organization Administrator); log each one in
// (§2.1) for a JWT; create the service account bench-producer (producer, publish
// grant publish/#), or rotate its secret when it exists (§6.3). For mosquitto the
// same shape is made up with random UUIDs and no credentials.
//
// Subscribers (fanout, slow-consumer): every user on publish/{org}/{user}, every org
// admin on publish/{org}/+ and the system admin on publish/#, each an MQTT 3.1.1
// connection over WebSocket (/messaging/mqtt, subprotocol mqtt, Authorization:
// Bearer <JWT>, form A of §6.2), so each notification has three deliveries.
//
// Producers: -producers MQTT connections of the service account (form C), each
// publishing at QoS 1 to its share of the topics with up to -window PUBACKs
// outstanding, or with -via rest as many sequential callers of
// POST /api/admin/org/{id}/events (§8.3). A topic has one producer, so its
// messages stay in order. MQTT messages are EVENT envelopes (§8.1, §8.2) of
// -size bytes (at least the envelope's own size, about 830 bytes).
//
// Each message carries a marker (see putMarker) with the step, the topic, a
// per-topic sequence number and the send time. Subscribers compute the end-to-end
// latency from it into a shared log-linear Histogram (3 % resolution, fixed memory)
// and check per topic that sequence numbers rise: Result counts deliveries,
// duplicates, misrouted and lost messages. herald's own events (logins raise
// session/login) carry no marker and are ignored.
//
// # Measures
//
//   - deliveries per second: marked messages received by the subscribers of a step,
//     over the time from the step's start to its last delivery;
//   - latency p50/p90/p99/max: send stamp to receipt, same process and clock;
//   - connects per second: WebSocket upgrade + CONNECT/CONNACK + SUBSCRIBE/SUBACK
//     completed per second (idle, connect-storm);
//   - memory per connection: the server's VmRSS (/proc/<pid>/status; the process
//     found by -pid or as the owner of the listening port) before opening the idle
//     connections and after each step, the difference divided by the connections open.
//
// # Limits of one machine
//
// One source address gives about 28,000 ephemeral ports towards one server port,
// and herald limits logins and WebSocket upgrades per client address: -src spreads
// connections over several loopback addresses (127.0.0.0/8 needs no setup on
// Linux). The tool needs one file descriptor per connection: idle lowers -conns (its
// largest step; steps above are dropped) to what this process's and the server's
// open-file limits allow, and says so. herald allows 100 connections per principal
// by default, so idle spreads its connections over all the provisioned users. Run
// herald for benchmarks with a configuration that raises http.loginRatePerMinute
// and mqtt.connectsPerSecondPerIP and lowers auth.passwordCost (provisioning logs
// in every user; docs/PERFORMANCE.md).
package bench
