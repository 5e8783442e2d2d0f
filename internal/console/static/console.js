// herald console: logs in over the VCD OpenAPI (VCD-COMPAT §2.1), connects MQTT over
// WebSocket with the JWT as the CONNECT password (auth form B, §6.2), subscribes to the
// topics the user's role allows (§7.2) and shows the notifications (§8) and, for system
// administrators, per-vApp metrics (§9.3).
//
// Notification data is only ever written with textContent, never parsed as HTML. The
// password is never stored; the JWT and the session JSON are kept in sessionStorage so a
// reload of the tab keeps the login.
'use strict';

(() => {
  const ACCEPT = 'application/json;version=39.0';
  const TOKEN_HEADER = 'X-VMWARE-VCLOUD-ACCESS-TOKEN';
  const STORAGE_KEY = 'herald.console.login';
  const MAX_ROWS = 500; // oldest rows are dropped beyond this
  const SPARK_POINTS = 60; // values kept per metric chart
  const EXPIRED = 'session expired, log in again';

  const ROLE_SYSADMIN = 'System Administrator';
  const ROLE_ORGADMIN = 'Organization Administrator';

  // MQTT 5.0 reason codes the page names (MQTT 5.0 §2.4); 3.1.1's SUBACK failure is 0x80.
  const REASONS = {
    0x80: 'unspecified error', 0x86: 'bad user name or password', 0x87: 'not authorized',
    0x8e: 'session taken over', 0x8f: 'topic filter invalid', 0x97: 'quota exceeded',
    0x9e: 'shared subscriptions not supported', 0xa0: 'maximum connect time',
  };
  const reasonText = (code) => `${REASONS[code] || 'reason'} 0x${code.toString(16).padStart(2, '0')}`;

  const TASK_ACTIVE = new Set(['queued', 'preRunning', 'running']);
  const TASK_FAILED = new Set(['error', 'canceled', 'aborted']);

  const $ = (id) => document.getElementById(id);

  // el creates an element with attributes and children; strings become text nodes.
  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) e.append(c);
    return e;
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs = {}) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  }

  // ---- state ----

  const state = {
    login: null, // {name, jwt, session, exp, role, orgUUID, userUUID}
    client: null, // the mqtt.js client while logged in
    subs: new Map(), // topic → {li, state: 'pending'|'granted'|'denied'}
    rows: new Map(), // row key → <tr>
    vapps: new Map(), // vApp UUID → {card, vms: Map(VM id → Map(metric name → chart))}
    expiryTimer: 0,
  };

  // ---- helpers ----

  // bareUUID turns "urn:vcloud:org:<uuid>" into "<uuid>": topics carry bare, lowercase
  // UUIDs (VCD-COMPAT §1.1).
  function bareUUID(urn) {
    const s = String(urn || '');
    return s.slice(s.lastIndexOf(':') + 1).toLowerCase();
  }

  // jwtClaims decodes a JWT's payload without checking its signature, as VCD clients do
  // (VCD-COMPAT §2.5); only exp is used.
  function jwtClaims(jwt) {
    try {
      const b64 = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
    } catch {
      return {};
    }
  }

  function basicAuth(name, password) {
    const bytes = new TextEncoder().encode(`${name}:${password}`);
    return 'Basic ' + btoa(String.fromCharCode(...bytes));
  }

  function randomHex(n) {
    const b = crypto.getRandomValues(new Uint8Array(n));
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  // parseTime reads the EVENT form (…+00:00) and the Task JSON form (…+0000, §8.4).
  function parseTime(s) {
    if (!s) return null;
    const d = new Date(String(s).replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
    return Number.isNaN(d.getTime()) ? null : d;
  }

  function fmtTime(d) {
    return d ? d.toLocaleTimeString([], { hour12: false }) : '';
  }

  function fmtDuration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  }

  // fmtValue formats a metric value in its VCD unit (VCD-COMPAT §9.2).
  function fmtValue(v, unit) {
    const n = Number(v);
    switch (unit) {
      case 'PERCENT': return `${n.toFixed(1)} %`;
      case 'MEGAHERTZ': return `${Math.round(n)} MHz`;
      case 'KILOBYTES_PER_SECOND': return `${n.toFixed(n < 10 ? 1 : 0)} KB/s`;
      case 'KILOBYTE': {
        const units = ['KB', 'MB', 'GB', 'TB'];
        let x = n, i = 0;
        while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
        return `${x.toFixed(x < 10 ? 1 : 0)} ${units[i]}`;
      }
      default: return `${n} ${unit || ''}`.trim();
    }
  }

  // ---- REST ----

  async function apiFetch(method, path, { jwt, headers = {} } = {}) {
    const h = { Accept: ACCEPT, ...headers };
    if (jwt) h.Authorization = `Bearer ${jwt}`;
    return fetch(path, { method, headers: h, credentials: 'omit', cache: 'no-store' });
  }

  // logIn posts the credentials to the tenant or provider login (VCD-COMPAT §2.1) and
  // returns the login state; the password is not kept.
  async function logIn(name, password) {
    const at = name.lastIndexOf('@'); // user names may contain '@' (§1.1)
    if (at <= 0 || at === name.length - 1) throw new Error('Enter the user as user@org.');
    const provider = name.slice(at + 1).toLowerCase() === 'system';
    const path = '/cloudapi/1.0.0/sessions' + (provider ? '/provider' : '');
    const resp = await apiFetch('POST', path, { headers: { Authorization: basicAuth(name, password) } });
    if (resp.status === 401) throw new Error('Authentication failed.');
    if (resp.status === 429) throw new Error('Too many login attempts; try again later.');
    if (!resp.ok) throw new Error(`Login failed: HTTP ${resp.status}.`);
    const jwt = resp.headers.get(TOKEN_HEADER);
    if (!jwt) throw new Error(`Login answered without ${TOKEN_HEADER}.`);
    return loginState(name, jwt, await resp.json());
  }

  function loginState(name, jwt, session) {
    const role = (session.roles || [])[0] || '';
    const orgName = (session.org && session.org.name) || '';
    let kind = 'user';
    if (role === ROLE_SYSADMIN || orgName.toLowerCase() === 'system') kind = 'sysadmin';
    else if (role === ROLE_ORGADMIN) kind = 'orgadmin';
    const exp = Number(jwtClaims(jwt).exp) * 1000 || 0;
    return {
      name, jwt, session, exp, role, kind,
      orgUUID: bareUUID(session.org && session.org.id),
      userUUID: bareUUID(session.user && session.user.id),
    };
  }

  // defaultTopics are the role's subscriptions (VCD-COMPAT §7.2).
  function defaultTopics(l) {
    switch (l.kind) {
      case 'sysadmin': return ['publish/#', 'metrics/#'];
      case 'orgadmin': return [`publish/${l.orgUUID}/+`];
      default: return [`publish/${l.orgUUID}/${l.userUUID}`];
    }
  }

  // ---- connection state ----

  function setConn(s, text) {
    const c = $('conn');
    c.dataset.state = s;
    c.textContent = text || s;
  }

  function tickExpiry() {
    const l = state.login;
    const e = $('expiry');
    if (!l || !l.exp) { e.hidden = true; return; }
    const left = l.exp - Date.now();
    e.hidden = false;
    if (left <= 0) {
      endSession(EXPIRED);
      return;
    }
    e.textContent = `token expires in ${fmtDuration(left)}`;
    e.title = `JWT exp ${new Date(l.exp).toISOString()}`;
    e.classList.toggle('soon', left < 5 * 60 * 1000);
  }

  // ---- MQTT ----

  function connect() {
    const l = state.login;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const client = mqtt.connect(`${scheme}://${location.host}/messaging/mqtt`, {
      protocolVersion: 5, // for DISCONNECT and SUBACK reason codes
      username: l.name, // form B: user@org and the JWT (VCD-COMPAT §6.2)
      password: l.jwt,
      clientId: `herald-console-${randomHex(6)}`,
      clean: true,
      keepalive: 60,
      reconnectPeriod: 2000,
      connectTimeout: 15000,
      // The page subscribes again itself on every connect, so each SUBACK is shown.
      resubscribe: false,
    });
    state.client = client;
    setConn('connecting', 'connecting…');

    client.on('connect', () => {
      if (state.client !== client) return;
      setConn('connected', 'connected');
      for (const topic of state.subs.keys()) subscribe(topic);
    });
    client.on('reconnect', () => {
      if (state.client === client) setConn('reconnecting', 'reconnecting…');
    });
    client.on('offline', () => {
      if (state.client === client) setConn('reconnecting', 'offline, reconnecting…');
    });
    // A server DISCONNECT (5.0): 0x87 when the session was revoked or the user disabled,
    // 0xA0 when the token expired (VCD-COMPAT §6.7).
    client.on('disconnect', (packet) => {
      if (state.client !== client) return;
      const rc = packet.reasonCode || 0;
      if (rc === 0x87 || rc === 0xa0) endSession(EXPIRED, reasonText(rc));
      else setConn('reconnecting', `disconnected (${reasonText(rc)}), reconnecting…`);
    });
    // A refused CONNECT: a bad, expired or revoked token is 0x86, no rights 0x87 (§6.2).
    client.on('error', (err) => {
      if (state.client !== client) return;
      if (err && (err.code === 0x86 || err.code === 0x87)) endSession(EXPIRED, reasonText(err.code));
      else if (err && typeof err.code === 'number') setConn('refused', `refused: ${reasonText(err.code)}`);
      else setConn('reconnecting', `error: ${err && err.message}`);
    });
    client.on('message', onMessage);
  }

  // subscribe adds topic to the list and, when connected, sends SUBSCRIBE; a SUBACK
  // reason ≥ 0x80 shows as "denied: topic" (VCD-COMPAT §7.3).
  function subscribe(topic) {
    let sub = state.subs.get(topic);
    if (!sub) {
      const li = el('li', { 'data-topic': topic });
      const remove = el('button', { type: 'button', class: 'remove', title: 'Remove', 'aria-label': `Remove ${topic}`, text: '×' });
      remove.addEventListener('click', () => unsubscribe(topic));
      li.append(el('span', { class: 'label' }), remove);
      $('subs').append(li);
      sub = { li };
      state.subs.set(topic, sub);
    }
    setSub(sub, topic, 'pending', `pending: ${topic}`);
    const client = state.client;
    if (!client || !client.connected) return;
    client.subscribe(topic, { qos: 1 }, (err, granted, packet) => {
      if (state.subs.get(topic) !== sub) return;
      const rc = packet && packet.granted ? packet.granted[0] : err && err.code;
      if (typeof rc === 'number' && rc >= 0x80) setSub(sub, topic, 'denied', `denied: ${topic}`, reasonText(rc));
      else if (err) setSub(sub, topic, 'denied', `denied: ${topic}`, err.message);
      else setSub(sub, topic, 'granted', `granted: ${topic}`, `QoS ${rc}`);
    });
  }

  function setSub(sub, topic, s, text, detail) {
    sub.state = s;
    sub.li.dataset.state = s;
    sub.li.querySelector('.label').textContent = detail ? `${text} (${detail})` : text;
  }

  function unsubscribe(topic) {
    const sub = state.subs.get(topic);
    if (!sub) return;
    state.subs.delete(topic);
    sub.li.remove();
    if (sub.state === 'granted' && state.client && state.client.connected) state.client.unsubscribe(topic);
  }

  // ---- notifications ----

  function onMessage(topic, bytes) {
    let env, inner;
    try {
      env = JSON.parse(new TextDecoder().decode(bytes));
      inner = JSON.parse(env.payload); // payload is JSON text in a string (VCD-COMPAT §8.1)
    } catch {
      return; // not an envelope
    }
    const headers = env.headers || {};
    switch (env.type) {
      case 'EVENT':
      case 'EXTERNAL_EVENT':
        addEvent(env.type, headers, inner, topic);
        break;
      case 'TASK':
        upsertTask(headers, inner);
        break;
      case 'METRICS':
        addMetrics(inner);
        break;
      default: // clients ignore unknown types (§8.1)
    }
  }

  function statusGroup(status) {
    if (status === 'success') return 'success';
    if (TASK_ACTIVE.has(status)) return 'active';
    if (TASK_FAILED.has(status) || status === 'failure') return 'failed';
    return '';
  }

  function addEvent(type, headers, e, topic) {
    const status = e.operationSuccess === false ? 'failure' : 'success';
    const eventType = String(e.type || headers['notification.type'] || '').replace(/^com\/vmware\/vcloud\/event\//, '');
    const key = `event:${e.eventId || randomHex(8)}`;
    if (state.rows.has(key)) return; // overlapping subscriptions deliver it twice
    const time = parseTime(e.timestamp);
    const tr = el('tr', { 'data-type': type, 'data-event-type': eventType, 'data-status': status, 'data-group': statusGroup(status) },
      el('td', { class: 'time', title: e.timestamp || '', text: fmtTime(time) }),
      el('td', {}, el('span', { class: `type t-${type}`, text: type }), ' ', el('span', { class: 'sub', text: eventType })),
      el('td', {}, el('span', { text: e.entityName || '' }), ' ', el('span', { class: 'sub', text: e.entityType || '' })),
      el('td', {}, el('span', { class: `status s-${status}`, text: status })),
      el('td', { class: 'details', title: topic, text: e.description || e.serviceNamespace || '' }));
    insertRow(key, tr);
  }

  // upsertTask shows a task in one row that later notifications of the same task id
  // update in place (VCD-COMPAT §8.4).
  function upsertTask(headers, t) {
    const id = bareUUID(t.id || headers['notification.taskUUID']);
    const key = `task:${id}`;
    const status = t.status || headers['notification.taskStatus'] || '';
    const progress = Math.max(0, Math.min(100, Number(t.progress) || 0));
    const entity = (t.owner && t.owner.name) || t.name || '';
    let details = t.details || '';
    if (t.error && t.error.message) details = t.error.message;
    let tr = state.rows.get(key);
    if (!tr) {
      const bar = el('progress', { max: 100, value: 0 });
      tr = el('tr', { 'data-type': 'TASK', 'data-task-id': id },
        el('td', { class: 'time' }),
        el('td', {}, el('span', { class: 'type t-TASK', text: 'TASK' }), ' ', el('span', { class: 'sub op' })),
        el('td', { class: 'entity' }),
        el('td', {}, el('span', { class: 'status' })),
        el('td', { class: 'details' }, el('div', { class: 'progress' }, bar, el('span', { class: 'pct' })), el('div', { class: 'sub note' })));
      insertRow(key, tr);
    } else {
      tr.classList.remove('flash');
      void tr.offsetWidth; // restart the highlight animation
      tr.classList.add('flash');
    }
    const time = parseTime(t.endTime) || parseTime(t.startTime);
    const timeCell = tr.querySelector('.time');
    timeCell.textContent = fmtTime(time);
    timeCell.title = t.endTime || t.startTime || '';
    tr.querySelector('.op').textContent = t.operation || t.operationName || '';
    tr.querySelector('.entity').textContent = entity;
    const st = tr.querySelector('.status');
    st.textContent = t.cancelRequested && TASK_ACTIVE.has(status) ? `${status} (cancel requested)` : status;
    st.className = `status s-${status}`;
    const bar = tr.querySelector('progress');
    bar.value = progress;
    bar.className = `s-${status}`;
    bar.setAttribute('aria-label', `${progress}%`);
    tr.querySelector('.pct').textContent = `${progress}%`;
    tr.querySelector('.note').textContent = details;
    tr.dataset.status = status;
    tr.dataset.progress = String(progress);
    tr.dataset.group = statusGroup(status);
    applyFilter(tr);
    updateCounts();
  }

  function insertRow(key, tr) {
    state.rows.set(key, tr);
    $('rows').prepend(tr);
    while (state.rows.size > MAX_ROWS) {
      const [oldKey, oldRow] = state.rows.entries().next().value;
      state.rows.delete(oldKey);
      oldRow.remove();
    }
    applyFilter(tr);
    updateCounts();
  }

  function applyFilter(tr) {
    const type = $('filter-type').value;
    const group = $('filter-status').value;
    tr.hidden = (type !== '' && tr.dataset.type !== type) || (group !== '' && tr.dataset.group !== group);
  }

  function updateCounts() {
    let shown = 0;
    for (const tr of state.rows.values()) if (!tr.hidden) shown++;
    const total = state.rows.size;
    $('counts').textContent = total ? `${shown} of ${total} shown` : '';
    $('empty').hidden = total > 0;
  }

  function refilter() {
    for (const tr of state.rows.values()) applyFilter(tr);
    updateCounts();
  }

  // ---- metrics ----

  function addMetrics(m) {
    const vAppID = bareUUID(m.vApp);
    if (!vAppID) return;
    $('metrics').hidden = false;
    $('metrics-empty').hidden = true;
    let va = state.vapps.get(vAppID);
    if (!va) {
      const title = el('h3', {}, el('span', { class: 'name', text: `vApp ${vAppID.slice(0, 8)}…` }), ' ',
        el('span', { class: 'sub org', text: `org ${bareUUID(m.org).slice(0, 8)}…` }));
      const card = el('section', { class: 'vapp', 'data-vapp-id': vAppID }, title, el('div', { class: 'vms' }));
      $('vapps').append(card);
      va = { card, vms: new Map() };
      state.vapps.set(vAppID, va);
      nameVApp(vAppID, card);
    }
    for (const vm of m.vms || []) {
      let charts = va.vms.get(vm.id);
      if (!charts) {
        const table = el('table', { class: 'vm', 'data-vm-id': bareUUID(vm.id) },
          el('caption', { text: vm.name || bareUUID(vm.id) }), el('tbody'));
        va.card.querySelector('.vms').append(table);
        charts = { table, byName: new Map() };
        va.vms.set(vm.id, charts);
      }
      for (const x of vm.metrics || []) addPoint(charts, x);
    }
  }

  // nameVApp replaces the vApp's short id by its name and org from the inventory API
  // (VCD-COMPAT §9.3), which system administrators may read.
  async function nameVApp(vAppID, card) {
    const l = state.login;
    if (!l) return;
    try {
      const resp = await apiFetch('GET', `/cloudapi/herald/1.0.0/vApps/urn:vcloud:vapp:${vAppID}`, { jwt: l.jwt });
      if (!resp.ok) return;
      const v = await resp.json();
      card.querySelector('.name').textContent = v.name || vAppID;
      if (v.org && v.org.name) card.querySelector('.org').textContent = `org ${v.org.name}`;
    } catch {
      // keep the short id
    }
  }

  function addPoint(charts, x) {
    let c = charts.byName.get(x.name);
    if (!c) {
      const s = svg('svg', { class: 'spark', viewBox: '0 0 120 24', preserveAspectRatio: 'none', role: 'img', 'aria-label': x.name });
      const line = svg('polyline', { points: '' });
      s.append(line);
      const value = el('td', { class: 'value' });
      const row = el('tr', { 'data-metric': x.name }, el('th', { text: x.name }), el('td', { class: 'chart' }, s), value);
      charts.table.tBodies[0].append(row);
      c = { values: [], unit: x.unit, svg: s, line, value };
      charts.byName.set(x.name, c);
    }
    const v = Number(x.value);
    if (!Number.isFinite(v)) return;
    c.values.push(v);
    if (c.values.length > SPARK_POINTS) c.values.shift();
    drawSpark(c);
    c.value.textContent = fmtValue(v, x.unit);
    c.value.title = x.timestamp || '';
  }

  function drawSpark(c) {
    const vs = c.values;
    let lo = Math.min(...vs), hi = Math.max(...vs);
    if (c.unit === 'PERCENT') { lo = 0; hi = Math.max(100, hi); }
    if (hi === lo) { hi += 1; lo -= 1; }
    // The line spans the width from the first value on; once SPARK_POINTS values are
    // kept, it scrolls.
    const step = 120 / Math.max(vs.length - 1, 1);
    const pts = vs.map((v, i) => `${(i * step).toFixed(1)},${(22 - ((v - lo) / (hi - lo)) * 20).toFixed(1)}`);
    c.line.setAttribute('points', pts.join(' '));
    c.svg.dataset.points = String(vs.length);
  }

  // ---- session lifecycle ----

  function start(l) {
    state.login = l;
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ name: l.name, jwt: l.jwt, session: l.session }));
    $('login').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = false;
    const who = $('who');
    who.hidden = false;
    who.textContent = `${l.name} · ${l.role || l.kind}`;
    $('topic').placeholder = defaultTopics(l)[0];
    $('metrics').hidden = l.kind !== 'sysadmin';
    for (const topic of [...state.subs.keys()]) unsubscribe(topic);
    for (const topic of defaultTopics(l)) subscribe(topic);
    clearInterval(state.expiryTimer);
    state.expiryTimer = setInterval(tickExpiry, 1000);
    tickExpiry();
    if (state.login) connect(); // tickExpiry ends an already expired login
  }

  // stop closes the MQTT connection and forgets the token; the rows stay visible.
  function stop() {
    clearInterval(state.expiryTimer);
    const client = state.client;
    state.client = null;
    if (client) client.end(true);
    state.login = null;
    sessionStorage.removeItem(STORAGE_KEY);
    $('expiry').hidden = true;
    $('logout').hidden = true;
    $('who').hidden = true;
    $('login').hidden = false;
    for (const [topic, sub] of state.subs) setSub(sub, topic, 'pending', `inactive: ${topic}`);
  }

  // endSession ends a login the server no longer accepts: the JWT's exp has passed, or
  // the broker refused or closed the connection as not authorized (VCD-COMPAT §6.7).
  function endSession(message, detail) {
    if (!state.login) return;
    stop();
    setConn('expired', detail ? `${message} (${detail})` : message);
    $('login-msg').textContent = message;
    $('login-user').focus();
  }

  async function logOut() {
    const l = state.login;
    if (!l) return;
    stop();
    setConn('offline', 'logged out');
    $('login-msg').textContent = '';
    try {
      // Logout revokes the session at once (VCD-COMPAT §2.3); an expired one gets 401.
      await apiFetch('DELETE', '/cloudapi/1.0.0/sessions/current', { jwt: l.jwt });
    } catch {
      // offline: the token still ends at its exp
    }
  }

  // ---- wiring ----

  function init() {
    $('login-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const user = $('login-user').value.trim();
      const pw = $('login-password');
      const password = pw.value;
      pw.value = ''; // never kept, not even in the form
      const submit = $('login-submit');
      submit.disabled = true;
      $('login-msg').textContent = '';
      setConn('offline', 'logging in…');
      try {
        start(await logIn(user, password));
      } catch (err) {
        setConn('offline', 'not logged in');
        $('login-msg').textContent = err.message;
        pw.focus();
      } finally {
        submit.disabled = false;
      }
    });
    $('logout').addEventListener('click', logOut);
    $('topic-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const topic = $('topic').value.trim();
      if (topic && state.login) subscribe(topic);
      $('topic').value = '';
    });
    $('filter-type').addEventListener('change', refilter);
    $('filter-status').addEventListener('change', refilter);
    $('clear').addEventListener('click', () => {
      for (const tr of state.rows.values()) tr.remove();
      state.rows.clear();
      updateCounts();
    });
    updateCounts();

    // A reload of the tab keeps the login until the token's exp.
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || 'null');
      if (saved && saved.jwt && saved.session) {
        const l = loginState(saved.name, saved.jwt, saved.session);
        if (l.exp > Date.now()) {
          start(l);
          return;
        }
        sessionStorage.removeItem(STORAGE_KEY);
      }
    } catch {
      sessionStorage.removeItem(STORAGE_KEY);
    }
    $('login-user').focus();
  }

  // Both scripts are deferred: the document is parsed and mqtt.min.js has run.
  if (typeof mqtt === 'undefined') {
    $('login-msg').textContent = 'mqtt.min.js did not load; the console cannot connect.';
    return;
  }
  init();
})();
