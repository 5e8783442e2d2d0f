// Package store is herald's durable state on NATS JetStream, and the only package that
// imports the NATS modules (ARCHITECTURE.md decisions 2–4).
//
// # Server
//
// By default Open embeds a nats-server in the process: JetStream file store under
// <DataDir>/jetstream, reached on a random loopback port with a password generated
// at each start (or, with Config.InProcess, through in-process pipes and no port at
// all), its log routed to slog. Config.ServerName must stay stable across
// restarts. With Config.NATSURL set, Open connects to an existing NATS cluster instead;
// everything else is the same code. Open waits, with a deadline, until the JetStream
// API answers.
//
// # Buckets and keys
//
// Every bucket has history 1 and Config.Replicas replicas. Values are the JSON of the
// vcd structs.
//
//	herald_orgs      <org id>                  vcd.Org
//	herald_users     <user id>                 vcd.User
//	herald_names     org.<N>                   org id     (uniqueness index)
//	                 user.<org id>.<N>         user id
//	                 service.<N>               service account id
//	herald_sessions  <session id>              vcd.Session
//	herald_tokens    <token id>                vcd.APIToken
//	herald_service_accounts <id>               vcd.ServiceAccount (to move to vcd)
//	herald_tasks     <task id>                 TaskRecord (the task itself opaque, in Data)
//	herald_keys      <kid>                     vcd.SigningKey
//	herald_meta      site                      vcd.Site (id generated once)
//	herald_revoked   <hex of jti>              {sessionId, revoked}; bucket TTL
//	                                           Config.RevokedTTL (default 48h)
//	herald_vapps     <vApp id>                 VApp with its VMs (vapp.go)
//	herald_metrics_latest <VM id>              the VM's latest samples, binary (metrics.go)
//	herald_metrics_settings current            MetricsSettings
//	herald_metrics_lease lease                 last claimed publication interval and revision
//
// N is the base32 (extended hex alphabet, no padding) of the lowercased name, because
// KV keys allow only [-/_=.a-zA-Z0-9]. Ids must be 1–256 characters of [-_=a-zA-Z0-9]
// (UUIDs are).
//
// # Writes
//
// Uniqueness comes only from KV Create (create if absent) on herald_names: a create
// reserves the name, then creates the entity, and frees the name if that fails (when
// the failure may hide a write that did happen, the name is kept; a reservation
// without its entity that is older than a minute is taken over by the next create).
// A delete removes the entity, then its name. Names are immutable except for case.
// Updates run the caller's fn on a copy and write with compare-and-set on the revision
// read (KV Update); on a conflict they re-read and run fn again, up to 64 times
// (then vcd.CodeConflict). Deletes are compare-and-set too.
//
// # Cache
//
// Every bucket but herald_names and herald_meta is mirrored in memory by a KV watcher
// (all keys, deletes included), with secondary indexes: org name → id, (org, user
// name) → id, legacy token hash → session id, secret hash → token id, service account
// name → id and secret hash → id. Lookups read the
// cache: no round trip, no allocation, unless it misses (below). The rules:
//
//   - Open returns after every watcher has delivered the bucket's current values.
//   - Each cached value carries its KV revision; a value never replaces a newer one.
//   - Read-your-writes: a write applies its result, at the revision JetStream
//     acknowledged, before the method returns. The watcher delivers the same revision
//     later and it is ignored.
//   - A local delete leaves a tombstone at the deleted revision until the watcher has
//     passed it, so a late watch event cannot bring the value back.
//   - Writes by other nodes appear when their watch event arrives (milliseconds).
//     An update or delete whose entity is not cached yet reads it from KV, and so
//     does a lookup by id of a session, user, org, API token, service account, task
//     or vApp. A lookup by a secondary index that misses asks JetStream for the
//     bucket's last revision and waits (at most 2 s) until the watcher has delivered
//     it, then looks again: whatever another node wrote before the lookup is found.
//     Concurrent misses share that request, so bad credentials cannot multiply it.
//
// DB.Watch reports every change from any node after the cache has applied it, so that
// consumers (the broker closing connections of revoked sessions) learn within
// milliseconds. Undecodable values are logged and skipped.
//
// # Errors
//
// Missing entities are vcd.CodeNotFound, taken names and ids vcd.CodeDuplicate,
// exhausted compare-and-set retries vcd.CodeConflict, and any failure to reach
// JetStream (no responders, timeouts, no quorum, a closed connection) is
// vcd.CodeUnavailable wrapping the cause. The store checks no business rules, only
// what keeps its indexes consistent.
//
// # Cluster
//
// Nothing in the store assumes it is alone: several nodes may share one NATS cluster
// (docs/CLUSTER.md), each with its own cache: embedded servers joined by routes
// (Config.Cluster, cell mode; the server then also listens on a random loopback port
// guarded by a per-process password, because nats-server routes only once its client
// listener is up), or Config.NATSURL with credentials and TLS (external mode). Set
// Replicas to 3 (buckets and streams are created or updated with it at Open) and give
// each node its own ServerName. Writes then need a JetStream quorum and fail as
// vcd.CodeUnavailable without one; cached reads keep answering.
//
// Open retries, within Config.StartTimeout, everything that a cluster still forming
// refuses: the wait for a meta leader, each creation (each attempt bounded by 2 s,
// as requests sent during an election go unanswered). On a cluster's first start one
// node provisions the streams and buckets while the others wait for its site
// identity (awaitProvisioner, in cluster.go), because JetStream answers none of
// several concurrent creations of one new replicated stream in time. Migrate
// (migrate.go) copies a single node's store into a new cluster, the log with its
// sequences, announcing itself as the provisioner so that the other nodes wait.
//
// A replica may lag its stream's leader (a node just restarted, a follower that
// has not applied the newest writes): reads that a decision rests on go to the
// leader. Persistent MQTT session records are read with a leader-only message get
// (leaderGet; KV Get would use direct gets, which any replica answers), and Replay's
// consumer is placed on the log's leader (createOnLeader), since one on a lagging
// replica would report the replay complete short of the log's last sequence.
//
// Signal/OnSignal (every node, at most once) and Ask/Answer (one node, by name) carry
// the server's cluster-wide signals on core NATS subjects under $HERALD., never stored.
//
// # Notification log
//
// Stream NOTIFY holds every notification once; Open creates it or updates its
// configuration (file storage, Config.Replicas, limits retention, discard old,
// AllowDirect). Its subjects are notify.> (NotifySubjectPrefix): callers append under
// the prefix plus an escaped MQTT topic, such as notify.publish.<org>.<user> or
// notify.metrics.<org>.<vapp>, and the store checks only that a subject is a literal
// NATS subject under the prefix. Retention: messages older than Config.LogMaxAge
// (default 24h) or beyond Config.LogMaxBytes (default 1 GiB, -1 unlimited) are
// dropped, oldest first; LogInfo's First then moves past a cursor that was too slow.
//
// Append publishes with Nats-Msg-Id set to the caller's id and returns once JetStream
// acknowledged the message as stored. JetStream drops a repeated id within
// Config.LogDedupWindow (default 10m, at most LogMaxAge) and answers with the first
// message's sequence, which Append reports as dup, so producers may retry freely. A
// caller that never repeats an append (the MQTT broker) gives no id: a single node
// then sets none, and keeps no window entry for it; a cluster sets a random one,
// against the client library resending after a reconnect.
// AppendFrom also stores the caller's origin text in a Herald-Origin header (the
// session and client address of a login, for its audit record), which every read
// of the message returns as Message.Origin; no delivery to a subscriber carries it.
// AppendBatch pipelines many appends.
//
// Feed is the node's live feed: one ordered consumer (ephemeral, in memory, no acks)
// from a sequence, which the client library recreates after the last delivered
// sequence when it detects a gap, a missed heartbeat or a deleted consumer; Feed
// recreates it likewise if it fails outright, and from the first message when the
// log itself was deleted and created again (its sequences start over; the feed
// compares the log's epoch, LogInfo.Epoch, with the one it started on every
// second). The epoch is the log's creation time, or its source's for a log Migrate
// copied with its sequences (stream metadata herald_log_epoch), so that cursors
// saved with it (persistent sessions) tell a new log from the old one whatever
// their sequences. Replay serves a persistent session's
// backlog: an ephemeral consumer with the session's subject filters (reduced so that
// none contains another, which JetStream refuses) from the ack floor + 1 up to the last
// sequence at the call; the caller then feeds from that sequence + 1.
//
// # Durability
//
// The embedded server's file store fsyncs every Config.SyncInterval (default 2
// minutes) and, with Config.SyncAlways, after every write, before the acknowledgement
// that Append and the KV writes wait for; the settings apply to every stream and
// bucket. A power loss without SyncAlways can lose what was acknowledged since the
// last sync. With Replicas 3 an acknowledgement means a quorum stored the message,
// which survives the loss of one machine whatever the sync policy; with SyncAlways
// each replica syncs its Raft log on every write and the stream's files at each
// snapshot. With NATSURL the operator's server configuration decides instead.
//
// # Retained messages
//
//	herald_retained  <escaped topic>           version 1, QoS, Unix nanoseconds (8 bytes
//	                                           big endian), payload
//
// SetRetained writes a topic's retained message (an empty payload deletes it), and
// Retained lists them all from a watched cache with the revision rules above, so the
// broker matches filters in memory. Keys are the caller's escaped topics.
//
// # Cluster changes
//
// With Replicas 3 the stream and herald_retained are replicated like the buckets:
// Append and SetRetained need a quorum and otherwise fail as vcd.CodeUnavailable, while
// Feed keeps waiting and resumes when the stream has a leader again. Every node runs
// its own Feed over the same stream, and a session can replay on any node.
//
// # Audit history
//
// Stream HISTORY (subjects history.<org>.<user>, file storage, Config.Replicas, limits
// retention for Config.HistoryMaxAge, default 90 days, AllowDirect, and on a single
// node asynchronous persistence: a crash's lost tail is projected again, see
// ensureHistory) holds an
// AuditRecord per event notification: the index fields in header Herald-Audit
// (encodeAudit) and the caller's rendering of the record as the body. A single node
// stores up to 64 records per message (batchMsg: one Herald-Audit value per record,
// each with the size of its part of the body), a cluster one. AppendAudit
// refuses an id this node's index already holds, so a record is stored once even when
// it comes back after the dedup window; in a cluster, where nodes append the same
// records at once, it also publishes with Nats-Msg-Id set to the record's id. (A
// single node, whose index learns every append, leaves it out: at 5,000 records/s
// JetStream's ten-minute duplicate window would hold three million ids.) ProjectHistory projects NOTIFY's publish.> subjects from the messages
// this node's Feed delivers, with no consumer of its own, and reads from the log only
// what it did not get that way; each record names its notification's sequence
// (header Herald-Log-Seq) and its log's epoch (Herald-Log-Epoch), so projection resumes
// after the highest one of the log after a restart, or from the start of a log created
// again meanwhile, and loses nothing. Every node projects every notification; IDs keep each record once.
//
// Every node keeps a query index of HISTORY in memory (about 120 bytes a record, no
// body): Open loads it with a headers-only ordered consumer; in a cluster a goroutine
// follows new records until Close, while a single node, the only writer, indexes each
// record when its append is acknowledged. Another goroutine drops records retention
// removed, once a minute.
// QueryAudit scans the list of the caller's scope (all, an org, a user) sorted by
// (time, sequence), narrowed by a binary search on time, and reads the page's bodies by
// direct get. AuditQuery.MaxSeq freezes the set of records for stable paging.
package store
