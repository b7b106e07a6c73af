// Browser journeys for `collabzium workstation` (issue 14): Debian's chromium,
// driven headless by playwright-core, against a real relay process, a real
// therapist store behind the workstation, and real patient stores driven
// through the CLI. axe-core runs on every page; screenshots go to $BROWSER_OUT.
//
// Run by `scripts/test-all.sh --only browser`, which installs chromium and the
// npm packages. Environment:
//   COLLABZIUM_BIN   the collabzium binary
//   BROWSER_DEPS     folder holding node_modules/{playwright-core,axe-core}
//   BROWSER_OUT      output folder (screenshots, results.json)
//   CHROMIUM         the browser (default /usr/bin/chromium)
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const http = require("http");
const { spawn, spawnSync } = require("child_process");

const BIN = process.env.COLLABZIUM_BIN;
const DEPS = process.env.BROWSER_DEPS;
const OUT = process.env.BROWSER_OUT || path.join(os.tmpdir(), "collabzium-browser");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const PASS = "a long test passphrase";
if (!BIN || !DEPS) {
  console.error("set COLLABZIUM_BIN and BROWSER_DEPS");
  process.exit(2);
}
const { chromium } = require(path.join(DEPS, "node_modules", "playwright-core"));
const AXE = fs.readFileSync(path.join(DEPS, "node_modules", "axe-core", "axe.min.js"), "utf8");
fs.mkdirSync(OUT, { recursive: true });
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "collabzium-browser-"));
const children = [];
// The environment every CLI call gets: the test passphrase, no default store.
const ENV = { ...process.env, COLLABZIUM_PASSPHRASE: PASS };
delete ENV.COLLABZIUM_STORE;

// ------------------------------------------------------------ the CLI

function cli(args, opts = {}) {
  const r = spawnSync(BIN, args, {
    cwd: TMP,
    env: ENV,
    encoding: "utf8",
    timeout: opts.timeout || 60000,
  });
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`collabzium ${args.join(" ")} failed: ${r.stdout} ${r.stderr}`);
  }
  const last = r.stdout.trim().split("\n").pop() || "null";
  try {
    return JSON.parse(last);
  } catch (_) {
    return last;
  }
}
const as = (store, ...args) => cli(["--store", store, "--json", ...args]);

/// Spawns a long-running CLI process and resolves with the first stdout line
/// that parses as JSON and has `key`.
function spawnUntil(args, key, timeoutMs = 120000) {
  const child = spawn(BIN, args, {
    cwd: TMP,
    env: ENV,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let err = "";
  let all = "";
  child.stderr.on("data", (d) => (err += d));
  child.stdout.on("data", (d) => (all += d));
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`timeout waiting for ${key}: ${err.slice(-500)}`)), timeoutMs);
    child.stdout.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const v = JSON.parse(line);
          if (v && v[key] !== undefined) {
            clearTimeout(timer);
            resolve({ child, value: v, stderr: () => err, stdout: () => all });
          }
        } catch (_) {}
      }
    });
    child.on("exit", (code) => reject(new Error(`exited ${code} before ${key}: ${err.slice(-500)}`)));
  });
}

function waitExit(child, timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    const t = setTimeout(() => reject(new Error("timeout")), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

// ------------------------------------------------------------ checks

const results = [];
const axeReport = [];
const cspViolations = [];
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function axeCheck(page, name) {
  // Evaluated through the DevTools protocol: the page's own CSP stays on.
  await page.evaluate(AXE);
  const r = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const res = await axe.run(document, { resultTypes: ["violations"] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  const bad = r.filter((v) => v.impact === "serious" || v.impact === "critical");
  axeReport.push({ page: name, violations: r });
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
  assert(bad.length === 0, `axe on ${name}: ${JSON.stringify(bad)}`);
}

function checkHeaders(resp, name) {
  assert(resp, `${name}: no response`);
  const h = resp.headers();
  const csp = h["content-security-policy"] || "";
  assert(csp.includes("frame-ancestors 'none'") && csp.includes("default-src 'none'"), `${name}: CSP ${csp}`);
  assert(h["cache-control"] === "no-store", `${name}: cache-control ${h["cache-control"]}`);
}

async function visit(page, base, p, name) {
  const resp = await page.goto(base + p);
  assert(resp.status() === 200, `${name}: status ${resp.status()}`);
  checkHeaders(resp, name);
  return resp;
}

async function syncNow(page) {
  await Promise.all([page.waitForLoadState("load"), page.getByRole("button", { name: "Sync now" }).click()]);
  await page.waitForLoadState("load");
}

function rawRequest(base, { method = "GET", path: p = "/", headers = {}, body = "" }) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method, path: p, headers: { "Content-Length": Buffer.byteLength(body), ...headers } },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

// ------------------------------------------------------------ the journeys

async function main() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  const tests = [];
  const test = (name, fn) => tests.push({ name, fn });
  const state = {};

  // The relay, the therapist and the workstation.
  const relay = await spawnUntil(
    ["relay", "serve", "--database", `sqlite:${path.join(TMP, "relay.db")}`, "--listen", "127.0.0.1:0",
      "--rate-limit", "100000/s", "--ip-rate-limit", "0"],
    "listening",
  );
  const relayUrl = `http://${relay.value.listening}`;
  as("therapist.db", "store", "init", "--name", "Dr Browser", "--tz", "Europe/Vienna", "--locale", "en-GB");
  const ws = await spawnUntil(
    ["--store", "therapist.db", "--json", "workstation", "--relay", relayUrl, "--sync-interval", "0"],
    "url",
  );
  const loginUrl = ws.value.url;
  const base = loginUrl.slice(0, loginUrl.indexOf("/login"));
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  const page = await ctx.newPage();
  page.on("console", (m) => {
    if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
  });

  test("security: a request without the secret gets 401", async () => {
    const anon = await browser.newContext();
    const p = await anon.newPage();
    const r = await p.goto(base + "/");
    assert(r.status() === 401, `status ${r.status()}`);
    checkHeaders(r, "401 page");
    await anon.close();
  });

  test("login: the one-time URL sets the session cookie, once", async () => {
    const r = await page.goto(loginUrl);
    assert(r.status() === 200 && page.url() === base + "/", `landed on ${page.url()} (${r.status()})`);
    const cookies = await ctx.cookies();
    const c = cookies.find((x) => x.name === "cz_ws");
    assert(c && c.httpOnly && c.sameSite === "Strict", JSON.stringify(cookies));
    const other = await browser.newContext();
    const p2 = await other.newPage();
    const again = await p2.goto(loginUrl);
    assert(again.status() === 403, `second use: ${again.status()}`);
    await other.close();
  });

  test("security: a wrong Host or Origin is refused", async () => {
    const cookie = (await ctx.cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
    const host = await rawRequest(base, { headers: { Host: "evil.example", Cookie: cookie } });
    assert(host.status === 421 || host.status === 403, `Host: ${host.status}`);
    const origin = await rawRequest(base, {
      method: "POST", path: "/sync",
      headers: { Cookie: cookie, Origin: "http://evil.example", "Content-Type": "application/x-www-form-urlencoded" },
      body: "csrf=00",
    });
    assert(origin.status === 403, `Origin: ${origin.status}`);
  });

  test("security: a cross-site form post is refused", async () => {
    // An attacker's page on another origin, auto-posting to the workstation.
    const csrf = await page.locator('input[name="csrf"]').first().inputValue();
    const evil = http.createServer((req, res) => {
      res.setHeader("Content-Type", "text/html");
      res.end(`<!doctype html><html lang="en"><title>evil</title><form id="f" method="post" action="${base}/settings">
        <input name="csrf" value="${csrf}"><input name="tz" value="UTC"><input name="day_su" value="1">
        <input name="start" value="00:00"><input name="end" value="01:00"><input name="reply_within_hours" value="999">
        </form><script>document.getElementById("f").submit()</script></html>`);
    });
    await new Promise((r) => evil.listen(0, "127.0.0.1", r));
    const evilUrl = `http://localhost:${evil.address().port}/`;
    const p = await ctx.newPage();
    const posted = p.waitForResponse((r) => r.url().startsWith(base + "/settings") && r.request().method() === "POST");
    await p.goto(evilUrl);
    const r = await posted;
    assert(r.status() === 401 || r.status() === 403, `cross-site post: ${r.status()}`);
    await p.close();
    evil.close();
    await visit(page, base, "/settings", "settings-after-csrf");
    assert((await page.locator("#s-reply").inputValue()) !== "999", "the cross-site post changed the settings");
  });

  test("invite: a patient joins and the page shows the pairing", async () => {
    await visit(page, base, "/invite", "invite");
    await axeCheck(page, "invite");
    await page.getByLabel("Your name for the patient").fill("Alex B.");
    await page.getByRole("button", { name: "Create an invitation" }).click();
    await page.waitForSelector("#invite-code");
    const code = (await page.locator("#invite-code").textContent()).trim();
    const qr = await page.locator('img[src="/invite/qr.png"]').evaluate((i) => i.complete && i.naturalWidth > 0);
    assert(qr, "QR image did not load");
    await axeCheck(page, "invite-waiting");
    as("alex.db", "store", "init", "--name", "Alex", "--tz", "Europe/Vienna");
    const join = spawn(BIN, ["--store", "alex.db", "--json", "patient", "join", "--relay", relayUrl, "--code", code, "--wait", "30"],
      { cwd: TMP, env: ENV, stdio: ["ignore", "pipe", "pipe"] });
    children.push(join);
    const joined = waitExit(join);
    // The page's script reloads it once the pairing completes (no reload by us).
    await page.waitForSelector('#invite-state[data-state="paired"]', { timeout: 30000 });
    const sn = (await page.locator(".safety").textContent()).trim();
    const { code: rc, out } = await joined;
    assert(rc === 0, `join exit ${rc}: ${out}`);
    const j = JSON.parse(out.trim().split("\n").pop());
    assert(j.safety_number === sn, `safety numbers differ: page ${sn}, patient ${j.safety_number}`);
    state.alex = j.channel_id;
    await axeCheck(page, "invite-paired");
  });

  test("a second patient pairs (for the caseload)", async () => {
    await visit(page, base, "/invite", "invite2");
    await page.getByLabel("Your name for the patient").fill("Ben C.");
    await page.getByRole("button", { name: "Create an invitation" }).click();
    const code = (await page.locator("#invite-code").textContent()).trim();
    as("ben.db", "store", "init", "--name", "Ben", "--tz", "Europe/Vienna");
    const join = spawn(BIN, ["--store", "ben.db", "--json", "patient", "join", "--relay", relayUrl, "--code", code, "--wait", "30"],
      { cwd: TMP, env: ENV, stdio: ["ignore", "pipe", "pipe"] });
    children.push(join);
    const joined = waitExit(join);
    await page.waitForSelector('#invite-state[data-state="paired"]', { timeout: 30000 });
    const { code: rc, out } = await joined;
    assert(rc === 0, `join exit ${rc}`);
    state.ben = JSON.parse(out.trim().split("\n").pop()).channel_id;
  });

  const phq9 = (store, items) => {
    const id = as(store, "checkin", "start", "--instrument", "phq9").checkin_id;
    const answers = {};
    items.forEach((v, i) => (answers[`phq9_${i + 1}`] = v));
    as(store, "checkin", "answer", id, "--answers", JSON.stringify(answers));
    return as(store, "checkin", "submit", id);
  };

  test("caseload: the page orders patients as core does", async () => {
    phq9("alex.db", [1, 1, 1, 1, 0, 0, 1, 0, 0]);
    phq9("ben.db", [1, 0, 1, 0, 1, 0, 0, 0, 0]);
    as("alex.db", "sync");
    as("ben.db", "sync");
    await visit(page, base, "/", "caseload");
    await syncNow(page);
    const rows = await page.locator("table.caseload tbody tr").evaluateAll((trs) => trs.map((t) => t.dataset.channel));
    const core = JSON.parse(await (await page.request.get(base + "/caseload.json")).text());
    assert(rows.length === 2, `rows: ${rows.length}`);
    assert(JSON.stringify(rows) === JSON.stringify(core.map((e) => e.channel_id)), `page ${rows} vs core ${JSON.stringify(core)}`);
    await axeCheck(page, "caseload");
  });

  test("a risk check-in appears at the top within one sync", async () => {
    const r = phq9("ben.db", [2, 2, 2, 2, 1, 1, 1, 1, 2]);
    assert(r.safety_action && r.safety_action.concerns.length > 0, "no alert raised");
    as("ben.db", "sync");
    await visit(page, base, "/", "caseload-before-risk");
    await syncNow(page);
    const first = await page.locator("table.caseload tbody tr").first().getAttribute("data-channel");
    assert(first === state.ben, `first row ${first}, expected Ben`);
    const pinned = await page.locator("section.alerts li.alert").count();
    assert(pinned === 1, `pinned alerts: ${pinned}`);
    assert((await page.locator("section.alerts").textContent()).includes("PHQ-9 item 9"), "the trigger is named");
    await axeCheck(page, "caseload-risk");
    // The same view at a tablet's width.
    await page.setViewportSize({ width: 768, height: 1000 });
    await page.screenshot({ path: path.join(OUT, "caseload-768.png"), fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await page.setViewportSize({ width: 1280, height: 900 });
    assert(overflow <= 0, `horizontal overflow at 768 px: ${overflow}`);
  });

  test("acknowledge with an action: the patient's store shows seen", async () => {
    await visit(page, base, `/patient/${state.ben}`, "patient-ben");
    await axeCheck(page, "patient");
    await page.locator("#alerts select[name=action]").selectOption("phone");
    await page.locator("#alerts input[name=note]").fill("Called, safety plan in place");
    await page.locator("#alerts").getByRole("button", { name: "Acknowledge" }).click();
    await page.waitForLoadState("load");
    assert((await page.locator("#alerts").textContent()).includes("contacted by phone"), "ack not shown");
    await syncNow(page);
    as("ben.db", "sync");
    const alerts = as("ben.db", "checkin", "alerts").alerts;
    assert(alerts.length > 0 && alerts.every((a) => a.alert_state === "seen"), JSON.stringify(alerts.map((a) => a.alert_state)));
    await visit(page, base, "/", "caseload-after-ack");
    assert((await page.locator("section.alerts").count()) === 0, "the alert is still pinned");
  });

  test("reply to a message: the patient receives it", async () => {
    as("alex.db", "message", "send", "Is it fine to do the module on Sunday?");
    as("alex.db", "sync");
    await visit(page, base, "/inbox", "inbox");
    await syncNow(page);
    await visit(page, base, "/inbox", "inbox");
    assert((await page.locator("body").textContent()).includes("Is it fine to do the module"), "message not in the inbox");
    await axeCheck(page, "inbox");
    await visit(page, base, `/patient/${state.alex}`, "patient-alex");
    await page.getByLabel("Reply").fill("Yes, Sunday is fine.");
    await page.getByRole("button", { name: "Send" }).click();
    await page.waitForLoadState("load");
    await syncNow(page);
    as("alex.db", "sync");
    const thread = as("alex.db", "message", "list");
    assert(thread.some((m) => !m.from_me && m.text === "Yes, Sunday is fine."), JSON.stringify(thread));
    await as("alex.db", "sync");
    await syncNow(page);
    await visit(page, base, `/patient/${state.alex}`, "patient-alex-2");
    const delivery = await page.locator("ol.thread li.me .delivery").last().textContent();
    assert(["delivered", "read"].includes(delivery.trim()), `delivery state ${delivery}`);
  });

  test("set hours: the patient sees the new reply expectation", async () => {
    await visit(page, base, "/settings", "settings");
    await axeCheck(page, "settings");
    await page.getByLabel("Time zone (IANA name)").fill("Europe/Vienna");
    for (const d of ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]) await page.getByLabel(d).check();
    await page.getByLabel("Saturday").uncheck();
    await page.getByLabel("From", { exact: true }).fill("08:00");
    await page.getByLabel("Until", { exact: true }).fill("12:00");
    await page.getByLabel("Reply within (hours of availability)").fill("40");
    await page.getByRole("button", { name: "Save" }).click();
    await page.waitForLoadState("load");
    await syncNow(page);
    as("alex.db", "sync");
    const st = as("alex.db", "patient", "status");
    assert(st.reply && st.reply.reply_within_hours === 40 && st.reply.tz === "Europe/Vienna", JSON.stringify(st.reply));
  });

  test("assign a program and approve a module: the patient's agenda unlocks", async () => {
    const prog = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "cli", "data", "programs", "worry-6w.json"), "utf8"));
    prog.metadata.id = "approval-test";
    prog.metadata.modes = ["guided"];
    prog.modules = prog.modules.slice(0, 2);
    prog.modules[1].unlock = "therapist_approval";
    prog.checkins = prog.checkins.filter((c) => JSON.stringify(c.modes) !== '["unguided"]'
      && (!JSON.stringify(c.when).includes("after_module") || JSON.stringify(c.when).includes("understanding-worry")));
    await visit(page, base, `/patient/${state.alex}`, "patient-alex-3");
    await page.locator("#as-prog").selectOption("custom");
    await page.getByLabel(/Program definition/).fill(JSON.stringify(prog));
    await page.getByRole("button", { name: "Assign" }).click();
    await page.waitForLoadState("load");
    assert(page.url().includes("msg=assigned"), `assign: ${page.url()}`);
    await syncNow(page);
    as("alex.db", "sync");
    let agenda = as("alex.db", "agenda");
    assert(agenda.waiting_for_therapist.some((i) => i.ref_id === "catching-worry"), "not waiting before approval");
    await visit(page, base, `/patient/${state.alex}`, "patient-alex-4");
    await page.getByLabel("Module id").fill("catching-worry");
    await page.getByRole("button", { name: "Approve" }).click();
    await page.waitForLoadState("load");
    await syncNow(page);
    as("alex.db", "sync");
    agenda = as("alex.db", "agenda");
    assert(!agenda.waiting_for_therapist.some((i) => i.ref_id === "catching-worry"), "still waiting after approval");
    assert(agenda.open_now.some((i) => i.ref_id === "catching-worry"), JSON.stringify(agenda.open_now.map((i) => i.ref_id)));
    // The caseload filters by the assigned program.
    await visit(page, base, "/?program=approval-test", "caseload-by-program");
    const rows = page.locator("table.caseload tbody tr");
    assert((await rows.count()) === 1, `program filter shows ${await rows.count()} rows`);
    assert((await rows.first().getAttribute("data-channel")) === state.alex, "the filtered row is not Alex");
    assert((await page.locator("#f-program option[value='approval-test']").count()) === 1, "program missing from the filter");
  });

  test("the therapist's alliance rating is saved and charted", async () => {
    await visit(page, base, `/patient/${state.alex}`, "patient-alex-5");
    const selects = page.locator("#rate select");
    const n = await selects.count();
    for (let i = 0; i < n; i++) await selects.nth(i).selectOption({ index: 6 });
    await page.getByRole("button", { name: "Save my rating" }).click();
    await page.waitForLoadState("load");
    assert(page.url().includes("msg=rated"), page.url());
    assert((await page.locator("#chart-alliance").count()) === 1, "no alliance chart");
    await axeCheck(page, "patient-rated");
  });

  test("research: the page shows r with its CI for the demo cohort", async () => {
    await visit(page, base, "/research", "research-empty");
    await axeCheck(page, "research-empty");
    const demoOut = path.join(TMP, "demo");
    const demo = await spawnUntil(["--json", "demo", "--seed", "7", "--out", demoOut, "--serve"], "url", 300000);
    const dbase = demo.value.url.slice(0, demo.value.url.indexOf("/login"));
    const dctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const dp = await dctx.newPage();
    dp.on("console", (m) => {
      if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    await dp.goto(demo.value.url);
    const r = await visit(dp, dbase, "/research", "research");
    checkHeaders(r, "research");
    const text = await dp.locator("table.research").textContent();
    assert(text.includes("0.211") && text.includes("[0.162, 0.259]"), "the meta-analytic reference is missing");
    // The page's PHQ-9 r and CI against the analysis of the demo's own CSV.
    const file = JSON.parse(fs.readFileSync(path.join(demoOut, "alliance-outcome.json"), "utf8"));
    const phq = (Array.isArray(file) ? file : file.results || []).find((x) => x.instrument === "phq9");
    assert(phq && typeof phq.r === "number", `no phq9 result in alliance-outcome.json`);
    const expect = `${phq.r.toFixed(3)}`;
    const ci = `[${phq.ci[0].toFixed(3)}, ${phq.ci[1].toFixed(3)}]`;
    assert(text.includes(expect) && text.includes(ci), `page lacks PHQ-9 r ${expect} ${ci}`);
    assert((await dp.locator("svg#forest").count()) === 1, "no plot");
    await axeCheck(dp, "research");
    // The demo's other pages, for the reviewer's screenshots and axe.
    await visit(dp, dbase, "/", "demo-caseload");
    await axeCheck(dp, "demo-caseload");
    const ch = await dp.locator("table.caseload tbody tr").first().getAttribute("data-channel");
    await visit(dp, dbase, `/patient/${ch}`, "demo-patient");
    assert((await dp.locator("svg.chart").count()) >= 2, "charts missing");
    await axeCheck(dp, "demo-patient");
    await visit(dp, dbase, "/inbox", "demo-inbox");
    await axeCheck(dp, "demo-inbox");
    await visit(dp, dbase, "/settings", "demo-settings");
    await axeCheck(dp, "demo-settings");
    await dctx.close();
    demo.child.kill("SIGTERM");
  });

  test("keyboard: the skip link is the first stop and shows focus", async () => {
    await visit(page, base, "/", "caseload-kbd");
    await page.keyboard.press("Tab");
    const active = await page.evaluate(() => ({
      text: document.activeElement.textContent,
      outline: getComputedStyle(document.activeElement).outlineStyle,
      left: document.activeElement.getBoundingClientRect().left,
    }));
    assert(active.text === "Skip to content" && active.outline !== "none" && active.left >= 0, JSON.stringify(active));
    await page.keyboard.press("Enter");
    const focused = await page.evaluate(() => document.activeElement.id);
    assert(focused === "main", `focus after the skip link: ${focused}`);
  });

  test("the workstation's output holds no personal data", async () => {
    const out = ws.stderr() + ws.stdout();
    for (const secret of ["Alex", "Ben C", "Sunday", "safety plan in place", "Dr Browser"]) {
      assert(!out.includes(secret), `workstation output contains "${secret}"`);
    }
  });

  test("the pages ran under their CSP without a violation", async () => {
    assert(cspViolations.length === 0, cspViolations.join("\n"));
  });

  for (const t of tests) {
    const t0 = Date.now();
    try {
      await t.fn();
      results.push({ name: t.name, ok: true, ms: Date.now() - t0 });
      console.log(`PASS ${t.name}`);
    } catch (e) {
      results.push({ name: t.name, ok: false, ms: Date.now() - t0, error: String(e && e.message) });
      console.log(`FAIL ${t.name}: ${e && e.message}`);
      try {
        await page.screenshot({ path: path.join(OUT, `failed-${results.length}.png`), fullPage: true });
      } catch (_) {}
    }
  }
  await browser.close();
}

main()
  .catch((e) => {
    results.push({ name: "setup", ok: false, error: String(e && e.stack) });
    console.log(`FAIL setup: ${e && e.stack}`);
  })
  .finally(() => {
    for (const c of children) {
      try {
        c.kill("SIGTERM");
      } catch (_) {}
    }
    const passed = results.filter((r) => r.ok).length;
    const failed = results.length - passed;
    fs.writeFileSync(path.join(OUT, "results.json"), JSON.stringify({ passed, failed, results, axe: axeReport }, null, 2));
    const serious = axeReport.reduce((n, a) => n + a.violations.filter((v) => v.impact === "serious" || v.impact === "critical").length, 0);
    console.log(`axe: ${axeReport.length} pages checked, ${serious} serious or critical violations`);
    console.log(`browser journeys: ${passed} passed, ${failed} failed (screenshots in ${OUT})`);
    fs.rmSync(TMP, { recursive: true, force: true });
    process.exit(failed === 0 ? 0 : 1);
  });
