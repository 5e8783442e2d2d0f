// Drives herald's /console page in headless Chromium for internal/console's browser test.
//
//   node test.mjs <base URL> <user@org> <password>
//
// It opens <base URL>/console/, logs in through the page and prints "CONNECTED …" once
// the page shows the connection and its granted subscriptions. Then it reads commands
// from stdin, one per line, and answers each with one line on stdout, so the Go test
// decides what happens and when (no sleeps on either side: every step waits on the
// page's state). A step that fails prints "FAIL <reason>" and exits 1.
//
// Environment: HERALD_CHROMIUM (default /usr/bin/chromium); HERALD_SCREENSHOTS, a
// directory where SCREENSHOT writes console-<name>.png (without it, SCREENSHOT is a no-op).
import { chromium } from 'playwright-core';
import path from 'node:path';
import readline from 'node:readline';

const [base, user, password] = process.argv.slice(2);
if (!base || !user || !password) {
  console.error('usage: node test.mjs <base URL> <user@org> <password>');
  process.exit(2);
}
const WAIT = { timeout: 20_000 };
const shots = process.env.HERALD_SCREENSHOTS || '';
const pageErrors = [];

const say = (line) => process.stdout.write(line + '\n');
const fail = (msg) => {
  say(`FAIL ${String(msg).replace(/\s+/g, ' ')}`);
  process.exit(1);
};

const browser = await chromium.launch({
  executablePath: process.env.HERALD_CHROMIUM || '/usr/bin/chromium',
  args: ['--ignore-certificate-errors', '--no-sandbox', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
page.on('pageerror', (err) => {
  pageErrors.push(err.message);
  console.error(`pageerror: ${err.message}`);
});
page.on('console', (msg) => {
  // A Content-Security-Policy violation is a defect of the page, not of the test.
  if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) pageErrors.push(msg.text());
});

// login logs in through the form and waits for the connection and the role's
// subscriptions; it answers "CONNECTED <session URN> <granted topics>".
async function login(name, pw) {
  await page.locator('#login-user').fill(name);
  await page.locator('#login-password').fill(pw);
  await page.locator('#login-submit').click();
  await page.locator('#conn[data-state="connected"]').waitFor(WAIT);
  await page.waitForFunction(() => {
    const lis = [...document.querySelectorAll('#subs li')];
    return lis.length > 0 && lis.every((li) => li.dataset.state === 'granted');
  }, null, WAIT);
  if ((await page.locator('#login-password').inputValue()) !== '') fail('the password field still holds the password');
  const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }));
  if (stored.includes(pw)) fail('the password is in web storage');
  const expiry = await page.locator('#expiry').textContent();
  if (!/^token expires in \d+:\d\d:\d\d$/.test(expiry)) fail(`expiry shows ${JSON.stringify(expiry)}`);
  const sessionID = await page.evaluate(() => JSON.parse(sessionStorage.getItem('herald.console.login')).session.id);
  const topics = await page.$$eval('#subs li', (lis) => lis.map((li) => li.dataset.topic).join(','));
  say(`CONNECTED ${sessionID} ${topics}`);
}

const commands = {
  // TASK <uuid> <status> <progress>: the task's one row shows status and progress.
  async TASK(id, status, progress) {
    const row = page.locator(`#rows tr[data-task-id="${id}"][data-status="${status}"][data-progress="${progress}"]`);
    await row.waitFor(WAIT);
    const rows = await page.locator(`#rows tr[data-task-id="${id}"]`).count();
    const bar = await row.locator('progress').evaluate((p) => `${p.value}/${p.className}`);
    const text = (await row.locator('.status').textContent()) + ' ' + (await row.locator('.pct').textContent());
    say(`SEEN rows=${rows} bar=${bar} text=${text.replace(/\s+/g, '_')}`);
  },
  // EVENT <type suffix> <success|failure>: a row for such an event appears.
  async EVENT(type, status) {
    await page.locator(`#rows tr[data-type="EVENT"][data-event-type="${type}"][data-status="${status}"]`).first().waitFor(WAIT);
    say(`SEEN-EVENT ${type} ${status}`);
  },
  // FILTER <type|all> <group|all>: answers the visible rows as TYPE/status.
  async FILTER(type, group) {
    await page.locator('#filter-type').selectOption(type === 'all' ? '' : type);
    await page.locator('#filter-status').selectOption(group === 'all' ? '' : group);
    const rows = await page.$$eval('#rows tr', (trs) => trs.filter((tr) => !tr.hidden && tr.offsetParent !== null)
      .map((tr) => `${tr.dataset.type}/${tr.dataset.status}`));
    say(`ROWS ${JSON.stringify(rows)}`);
  },
  // SUBSCRIBE <topic>: adds it in the page and waits for its SUBACK.
  async SUBSCRIBE(topic) {
    await page.locator('#topic').fill(topic);
    await page.locator('#topic-form button[type="submit"]').click();
    const li = page.locator(`#subs li[data-topic="${topic}"]:not([data-state="pending"])`);
    await li.waitFor(WAIT);
    const st = await li.getAttribute('data-state');
    say(`SUB ${st} ${(await li.locator('.label').textContent()).trim()}`);
  },
  // METRICS <vApp UUID> <points>: the vApp's card has a chart of at least that many
  // points for every VM metric, and shows the vApp's name.
  async METRICS(vApp, points) {
    const card = `#vapps .vapp[data-vapp-id="${vApp}"]`;
    await page.waitForFunction(([sel, n]) => {
      const sparks = [...document.querySelectorAll(`${sel} svg.spark`)];
      return sparks.length > 0 && sparks.every((s) => Number(s.dataset.points) >= n);
    }, [card, Number(points)], WAIT);
    await page.waitForFunction((sel) => !document.querySelector(`${sel} .name`).textContent.startsWith('vApp '), card, WAIT);
    const vms = await page.locator(`${card} table.vm`).count();
    const metrics = await page.locator(`${card} table.vm`).first().locator('tr[data-metric]').count();
    const name = await page.locator(`${card} .name`).textContent();
    const coords = await page.locator(`${card} polyline`).first().getAttribute('points');
    say(`CHART vms=${vms} metrics=${metrics} name=${name} points=${coords.trim().split(/\s+/).length}`);
  },
  // LOGOUT: the logout button revokes the session; answers the status a REST call with
  // the old token then gets.
  async LOGOUT() {
    const jwt = await page.evaluate(() => JSON.parse(sessionStorage.getItem('herald.console.login')).jwt);
    const deleted = page.waitForResponse((r) => r.url().endsWith('/cloudapi/1.0.0/sessions/current') && r.request().method() === 'DELETE', WAIT);
    await page.locator('#logout').click();
    const del = await deleted;
    await page.locator('#login').waitFor({ state: 'visible', ...WAIT });
    await page.locator('#conn[data-state="offline"]').waitFor(WAIT);
    if (await page.evaluate(() => sessionStorage.length) !== 0) fail('sessionStorage not cleared at logout');
    const after = await page.evaluate(async (token) => (await fetch('/cloudapi/1.0.0/sessions/current', {
      headers: { Accept: 'application/json;version=39.0', Authorization: `Bearer ${token}` },
    })).status, jwt);
    say(`LOGGED-OUT delete=${del.status()} after=${after}`);
  },
  async LOGIN(name, pw) {
    await login(name, pw);
  },
  // WAIT-EXPIRED: the page shows that the session ended and offers the login again.
  async 'WAIT-EXPIRED'() {
    await page.locator('#conn[data-state="expired"]').waitFor(WAIT);
    await page.locator('#login').waitFor({ state: 'visible', ...WAIT });
    const msg = await page.locator('#login-msg').textContent();
    say(`EXPIRED ${msg} | ${await page.locator('#conn').textContent()}`);
  },
  async SCREENSHOT(name) {
    if (!shots) {
      say('SHOT skipped');
      return;
    }
    const file = path.join(shots, `console-${name}.png`);
    await page.screenshot({ path: file });
    say(`SHOT ${file}`);
  },
};

try {
  const resp = await page.goto(new URL('/console/', base).href, WAIT);
  if (!resp || resp.status() !== 200) fail(`GET /console/ = ${resp && resp.status()}`);
  await login(user, password);
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const [cmd, ...args] = line.trim().split(/\s+/);
    if (cmd === 'QUIT') break;
    if (!commands[cmd]) fail(`unknown command ${cmd}`);
    await commands[cmd](...args);
  }
  if (pageErrors.length) fail(`page errors: ${pageErrors.join('; ')}`);
  await browser.close();
  say('BYE');
  process.exit(0); // stdin may still be open
} catch (err) {
  fail(err && err.message);
}
