//! `collabzium-load postgres`: `collabzium relay serve` processes on one
//! PostgreSQL database and simulated devices pushing one sealed envelope per
//! signed request (ADR 0006 §11, figure 2).
//!
//! Setup (not timed): a fresh database on the given cluster, the relay
//! processes, and D/2 channels paired through the real pairing API
//! (`Invitation` / `pairing::join` / `accept` / `complete` over the relay).
//! Load: every device runs a closed loop — seal a ~560-byte payload with its
//! real `Channel`, sign the request (`signing::sign_request`), POST it with
//! a keep-alive client, wait for `stored` — alternating between the relays.
//! Latency is per push request, measured by the client; only requests
//! started after the warm-up count.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use collabzium_http::UreqTransport;
use collabzium_protocol::client::{b64, unb64, RelayClient};
use collabzium_protocol::pairing::{self, FinishMessage, Invitation, JoinMessage};
use collabzium_protocol::signing;
use collabzium_protocol::{Channel, DeviceKey};
use serde_json::{json, Value};

pub struct Args {
    pub database: String,
    pub relays: usize,
    pub devices: usize,
    pub seconds: u64,
    pub warmup: u64,
    pub collabzium_bin: PathBuf,
    pub payload_bytes: usize,
    pub client_threads: usize,
    pub keep_database: bool,
    /// Each device fetches and acks what its peer pushed this often (0: never).
    pub drain_ms: u64,
}

type R<T> = Result<T, String>;

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

// ------------------------------------------------------------- database

/// `postgres://…/NAME` with the database part replaced.
fn with_database(url: &str, name: &str) -> R<String> {
    let (head, tail) = url
        .rsplit_once('/')
        .filter(|(h, _)| h.contains("//"))
        .ok_or_else(|| format!("database URL needs a /database part: {url}"))?;
    let query = tail.split_once('?').map(|(_, q)| format!("?{q}"));
    Ok(format!("{head}/{name}{}", query.unwrap_or_default()))
}

async fn admin(url: &str, sql: &str) -> R<()> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("connect {url}: {e}"))?;
    let task = tokio::spawn(conn);
    client
        .batch_execute(sql)
        .await
        .map_err(|e| format!("{sql}: {e}"))?;
    drop(client);
    let _ = task.await;
    Ok(())
}

async fn pg_info(url: &str) -> R<(String, i64, String)> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let task = tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), (SELECT COUNT(*) FROM envelopes),
                    current_setting('synchronous_commit')",
            &[],
        )
        .await
        .map_err(|e| format!("count: {e}"))?;
    let out = (row.get(0), row.get(1), row.get(2));
    drop(client);
    let _ = task.await;
    Ok(out)
}

// ------------------------------------------------------------- relays

struct Relay {
    url: String,
    child: Child,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `collabzium relay serve`; its stdout (the access log) goes to a
/// file, whose first line names the address.
fn start_relay(bin: &Path, database: &str, log: &Path) -> R<Relay> {
    let out = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(bin)
        .args([
            "relay",
            "serve",
            "--database",
            database,
            "--listen",
            "127.0.0.1:0",
            "--rate-limit",
            "1000000/s",
            "--ip-rate-limit",
            "0",
        ])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
    let mut relay = Relay {
        url: String::new(),
        child,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut s = String::new();
        File::open(log)
            .and_then(|mut f| f.read_to_string(&mut s))
            .map_err(|e| e.to_string())?;
        if let Some((first, _)) = s.split_once('\n') {
            let v: Value =
                serde_json::from_str(first).map_err(|_| format!("relay said: {first}"))?;
            let addr = v["listening"]
                .as_str()
                .ok_or_else(|| format!("relay said: {first}"))?;
            relay.url = format!("http://{addr}");
            return Ok(relay);
        }
        if let Ok(Some(st)) = relay.child.try_wait() {
            return Err(format!("relay exited ({st}): {s}"));
        }
        if Instant::now() > deadline {
            return Err("relay did not start in 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ------------------------------------------------------------- pairing

pub struct Device {
    key: DeviceKey,
    channel: Channel,
}

fn call<T>(what: &str, r: collabzium_protocol::client::Call<T>) -> R<T> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(refusal)) => Err(format!(
            "{what}: {} {} {}",
            refusal.status, refusal.code, refusal.body
        )),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

/// Pairs a therapist device and a patient device through the relay API, as
/// the core's pairing service does; returns both ends of the channel.
fn pair(url: &str, t: &UreqTransport) -> R<(Device, Device)> {
    let tk = DeviceKey::generate();
    let pk = DeviceKey::generate();
    let tc = RelayClient::new(url, t, &tk, now_s);
    let pc = RelayClient::new(url, t, &pk, now_s);
    let perr = |e: collabzium_protocol::PairingError| format!("pairing: {e}");

    let mut inv = Invitation::start(url).map_err(perr)?;
    let created = call("create pairing", tc.create_pairing(inv.msg_a()))?;
    let np = created["nameplate"]
        .as_str()
        .ok_or("no nameplate")?
        .to_string();
    let code = inv.assign_nameplate(&np).map_err(perr)?;

    let view = call("get pairing (patient)", pc.get_pairing(&np))?;
    let msg_a = unb64(&view.msg_a).map_err(|e| e.to_string())?;
    let (join, pending) = pairing::join(&code, url, &msg_a, &pk, [2; 16]).map_err(perr)?;
    call("join", pc.join_pairing(&np, &join.to_bytes()))?;

    let view = call("get pairing (therapist)", tc.get_pairing(&np))?;
    let join_bytes = unb64(view.join.as_deref().ok_or("not joined")?).map_err(|e| e.to_string())?;
    let join = JoinMessage::from_bytes(&join_bytes).map_err(perr)?;
    let accepted = inv.accept(&join, &tk, [1; 16], None, None).map_err(perr)?;
    let cid = accepted.finish.channel_id;
    call(
        "finish",
        tc.finish_pairing(&np, &cid, &accepted.finish.to_bytes()),
    )?;

    let view = call("get pairing (finished)", pc.get_pairing(&np))?;
    let finish_bytes =
        unb64(view.finish.as_deref().ok_or("not finished")?).map_err(|e| e.to_string())?;
    let finish = FinishMessage::from_bytes(&finish_bytes).map_err(perr)?;
    let (channel, _peer) = pending.complete(&finish).map_err(perr)?;
    if channel.safety_number() != accepted.channel.safety_number() {
        return Err("safety numbers differ".into());
    }
    drop((tc, pc));
    Ok((
        Device {
            key: tk,
            channel: accepted.channel,
        },
        Device { key: pk, channel },
    ))
}

// ------------------------------------------------------------- load

#[derive(Default)]
struct DeviceStats {
    /// Latencies in µs of requests started after the warm-up.
    lat_us: Vec<u32>,
    /// Successful pushes in the whole run (warm-up included).
    ok_total: u64,
    errors: u64,
    first_error: Option<String>,
    last_done: Option<Instant>,
    envelope_len: usize,
    /// Envelopes fetched and acknowledged for the peer's direction.
    drained: u64,
}

async fn device_loop(
    mut dev: Device,
    index: usize,
    relays: Arc<Vec<String>>,
    payload: Arc<Vec<u8>>,
    measure_from: Instant,
    stop_at: Instant,
    drain_every: Option<Duration>,
) -> DeviceStats {
    let mut st = DeviceStats::default();
    let client = match reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            st.errors += 1;
            st.first_error = Some(format!("client: {e}"));
            return st;
        }
    };
    let path = format!("/v1/channels/{}/envelopes", b64(dev.channel.id()));
    let mut k = index;
    // Staggered, so the devices do not all drain at once.
    let mut next_drain =
        Instant::now() + drain_every.unwrap_or_default() * (index as u32 % 16 + 1) / 16;
    while Instant::now() < stop_at {
        if let Some(every) = drain_every.filter(|_| Instant::now() >= next_drain) {
            next_drain += every;
            let url = &relays[k % relays.len()];
            match drain(&client, &dev.key, url, &path).await {
                Ok(n) => st.drained += n,
                Err(e) => {
                    st.errors += 1;
                    st.first_error.get_or_insert(e);
                }
            }
        }
        let env = match dev.channel.seal(&payload) {
            Ok(e) => e,
            Err(e) => {
                st.errors += 1;
                st.first_error.get_or_insert(format!("seal: {e}"));
                break;
            }
        };
        st.envelope_len = env.len();
        let body = format!("{{\"envelopes\":[\"{}\"]}}", b64(&env));
        let h = signing::sign_request(&dev.key, "POST", &path, "", body.as_bytes(), now_s());
        let url = format!("{}{}", relays[k % relays.len()], path);
        k += 1;
        let t0 = Instant::now();
        let result = client
            .post(url)
            .header(signing::CONTENT_DIGEST, h.content_digest)
            .header(signing::SIGNATURE_INPUT, h.signature_input)
            .header(signing::SIGNATURE, h.signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let outcome = match result {
            Ok(resp) => {
                let status = resp.status().as_u16();
                match resp.bytes().await {
                    Ok(b) if status == 200 && memfind(&b, b"\"stored\"") => Ok(()),
                    Ok(b) => Err(format!("{status} {}", String::from_utf8_lossy(&b))),
                    Err(e) => Err(format!("body: {e}")),
                }
            }
            Err(e) => Err(format!("send: {e}")),
        };
        let done = Instant::now();
        match outcome {
            Ok(()) => {
                st.ok_total += 1;
                if t0 >= measure_from {
                    st.lat_us
                        .push((done - t0).as_micros().min(u32::MAX as u128) as u32);
                    st.last_done = Some(done);
                }
            }
            Err(e) => {
                st.errors += 1;
                st.first_error.get_or_insert(e);
                // A refused push leaves the seq unused; keep going.
            }
        }
    }
    st
}

async fn signed(
    client: &reqwest::Client,
    key: &DeviceKey,
    method: reqwest::Method,
    base: &str,
    path: &str,
    query: &str,
    body: String,
) -> R<Value> {
    let h = signing::sign_request(key, method.as_str(), path, query, body.as_bytes(), now_s());
    let url = if query.is_empty() {
        format!("{base}{path}")
    } else {
        format!("{base}{path}?{query}")
    };
    let mut req = client
        .request(method, url)
        .header(signing::CONTENT_DIGEST, h.content_digest)
        .header(signing::SIGNATURE_INPUT, h.signature_input)
        .header(signing::SIGNATURE, h.signature);
    if !body.is_empty() {
        req = req.header("content-type", "application/json").body(body);
    }
    let resp = req.send().await.map_err(|e| format!("send: {e}"))?;
    let status = resp.status().as_u16();
    let b = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
    if status != 200 {
        return Err(format!("{status} {}", String::from_utf8_lossy(&b)));
    }
    serde_json::from_slice(&b).map_err(|e| format!("response: {e}"))
}

/// The peer's side of the mailbox: fetch what is queued for this device
/// (up to 500) and acknowledge it, as a syncing device does.
async fn drain(client: &reqwest::Client, key: &DeviceKey, base: &str, path: &str) -> R<u64> {
    let page = signed(
        client,
        key,
        reqwest::Method::GET,
        base,
        path,
        "from_seq=0&limit=500",
        String::new(),
    )
    .await?;
    let envs = page["envelopes"].as_array().cloned().unwrap_or_default();
    let Some(through) = envs.iter().filter_map(|e| e["seq"].as_u64()).max() else {
        return Ok(0);
    };
    let acks = path.replace("/envelopes", "/acks");
    let r = signed(
        client,
        key,
        reqwest::Method::POST,
        base,
        &acks,
        "",
        json!({ "through": through, "seqs": [] }).to_string(),
    )
    .await?;
    Ok(r["deleted"].as_u64().unwrap_or(0))
}

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

// ------------------------------------------------------------- CPU accounting

/// utime + stime of a process in clock ticks.
fn proc_ticks(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn proc_comm(pid: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// CPU ticks of every `postgres` process (live ones only).
fn postgres_ticks() -> u64 {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        .filter(|p| proc_comm(p).as_deref() == Some("postgres"))
        .filter_map(|p| proc_ticks(&p))
        .sum()
}

/// (busy, total) jiffies of all CPUs.
fn system_ticks() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = s.lines().next().unwrap_or("");
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

struct CpuSnap {
    relays: u64,
    postgres: u64,
    load: u64,
    system: (u64, u64),
}

fn cpu_snap(relays: &[Relay]) -> CpuSnap {
    CpuSnap {
        relays: relays
            .iter()
            .filter_map(|r| proc_ticks(&r.child.id().to_string()))
            .sum(),
        postgres: postgres_ticks(),
        load: proc_ticks("self").unwrap_or(0),
        system: system_ticks(),
    }
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn run(a: Args) -> R<Value> {
    if a.devices < 2 || a.devices & 1 != 0 {
        return Err("--devices must be even (two per channel)".into());
    }
    if a.relays == 0 {
        return Err("--relays must be at least 1".into());
    }
    if !a.collabzium_bin.exists() {
        return Err(format!(
            "{} not found (cargo build --release -p collabzium-cli)",
            a.collabzium_bin.display()
        ));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.client_threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let name = format!(
        "collabzium_load_{}_{}",
        std::process::id(),
        now_s().rem_euclid(1_000_000)
    );
    let db = with_database(&a.database, &name)?;
    rt.block_on(admin(&a.database, &format!("CREATE DATABASE {name}")))?;
    let result = run_on(&rt, &a, &db);
    if !a.keep_database {
        let _ = rt.block_on(admin(
            &a.database,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ));
    }
    result
}

fn run_on(rt: &tokio::runtime::Runtime, a: &Args, db: &str) -> R<Value> {
    let logs = tempfile::tempdir().map_err(|e| e.to_string())?;
    // Start one relay first so concurrent migrations are not part of the figure.
    let mut relays = vec![start_relay(
        &a.collabzium_bin,
        db,
        &logs.path().join("relay-0.log"),
    )?];
    for i in 1..a.relays {
        relays.push(start_relay(
            &a.collabzium_bin,
            db,
            &logs.path().join(format!("relay-{i}.log")),
        )?);
    }
    let urls: Arc<Vec<String>> = Arc::new(relays.iter().map(|r| r.url.clone()).collect());

    // Pair through alternating relays (all share the database).
    let t = UreqTransport::new(Duration::from_secs(30));
    let setup = Instant::now();
    let mut devices = Vec::with_capacity(a.devices);
    for i in 0..a.devices / 2 {
        let (th, pt) = pair(&urls[i % urls.len()], &t)?;
        devices.push(th);
        devices.push(pt);
    }
    let setup_ms = setup.elapsed().as_millis() as u64;

    // A check-in-sized event body (JSON-like text; sealing pads it).
    let payload: Arc<Vec<u8>> = Arc::new(
        format!(
            "{{\"v\":1,\"id\":\"checkin:{}\",\"kind\":\"checkin\",\"body\":\"{}\"}}",
            "0".repeat(26),
            "x".repeat(a.payload_bytes.saturating_sub(64))
        )
        .into_bytes(),
    );

    let start = Instant::now();
    let measure_from = start + Duration::from_secs(a.warmup);
    let stop_at = measure_from + Duration::from_secs(a.seconds);
    let (stats, cpu0, cpu1) = rt.block_on(async {
        let mut tasks = Vec::new();
        for (i, d) in devices.into_iter().enumerate() {
            tasks.push(tokio::spawn(device_loop(
                d,
                i,
                urls.clone(),
                payload.clone(),
                measure_from,
                stop_at,
                (a.drain_ms > 0).then(|| Duration::from_millis(a.drain_ms)),
            )));
        }
        tokio::time::sleep_until(measure_from.into()).await;
        let cpu0 = cpu_snap(&relays);
        tokio::time::sleep_until(stop_at.into()).await;
        let cpu1 = cpu_snap(&relays);
        let mut stats = Vec::new();
        for t in tasks {
            stats.push(t.await.map_err(|e| e.to_string())?);
        }
        Ok::<_, String>((stats, cpu0, cpu1))
    })?;

    let mut lat: Vec<u32> = stats
        .iter()
        .flat_map(|s| s.lat_us.iter().copied())
        .collect();
    lat.sort_unstable();
    let errors: u64 = stats.iter().map(|s| s.errors).sum();
    let first_error = stats.iter().find_map(|s| s.first_error.clone());
    let ok_total: u64 = stats.iter().map(|s| s.ok_total).sum();
    let end = stats
        .iter()
        .filter_map(|s| s.last_done)
        .max()
        .unwrap_or(stop_at);
    let window = (end - measure_from).as_secs_f64();
    let pushes = lat.len() as f64;
    let per_s = pushes / window;
    let mean_ms = lat.iter().map(|&x| x as f64).sum::<f64>() / pushes.max(1.0) / 1000.0;
    let envelope_len = stats.iter().map(|s| s.envelope_len).max().unwrap_or(0);
    let drained: u64 = stats.iter().map(|s| s.drained).sum();

    let (pg_version, stored, sync_commit) = rt.block_on(pg_info(db))?;
    let tick = 100.0; // USER_HZ
    let cpu_s = |a: u64, b: u64| b.saturating_sub(a) as f64 / tick;
    let measured_s = (stop_at - measure_from).as_secs_f64();
    let sys_busy = cpu_s(cpu0.system.0, cpu1.system.0);
    let sys_total = cpu_s(cpu0.system.1, cpu1.system.1);
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    // CPU per push in µs, over the measured window.
    let per_push = |s: f64| r2(s * 1e6 / (per_s * measured_s).max(1.0));
    let relay_cpu = cpu_s(cpu0.relays, cpu1.relays);
    let pg_cpu = cpu_s(cpu0.postgres, cpu1.postgres);
    let load_cpu = cpu_s(cpu0.load, cpu1.load);
    let other = (sys_busy - relay_cpu - pg_cpu - load_cpu).max(0.0);

    drop(relays);
    let result = json!({
        "figure": "postgres",
        "relays": a.relays,
        "devices": a.devices,
        "channels": a.devices / 2,
        "warmup_s": a.warmup,
        "seconds": r2(window),
        "envelope_bytes": envelope_len,
        "pushes": lat.len(),
        "pushes_per_s": per_s.round(),
        "latency_ms": {
            "mean": r2(mean_ms),
            "p50": pct(&lat, 50.0),
            "p90": pct(&lat, 90.0),
            "p99": pct(&lat, 99.0),
            "p999": pct(&lat, 99.9),
            "max": pct(&lat, 100.0),
        },
        "errors": errors,
        "first_error": first_error,
        "drain_every_ms": a.drain_ms,
        "acked_envelopes": drained,
        "queued_at_end": stored,
        "ok_pushes_total": ok_total,
        "setup_pairing_ms": setup_ms,
        "postgres_version": pg_version,
        "synchronous_commit": sync_commit,
        "cpu": {
            "cores": ncpu,
            "busy_pct": r2(100.0 * sys_busy / sys_total.max(1e-9)),
            "us_per_push": {
                "relays": per_push(relay_cpu),
                "postgres": per_push(pg_cpu),
                "load_generator": per_push(load_cpu),
                "other": per_push(other),
            },
        },
        "target": { "pushes_per_s": 2000, "p99_ms": 50 },
        "target_met": per_s >= 2000.0 && pct(&lat, 99.0) < 50.0 && errors == 0,
    });
    if stored as u64 + drained != ok_total {
        return Err(format!(
            "database holds {stored} envelopes and {drained} were acked, \
             but {ok_total} pushes succeeded: {result}"
        ));
    }
    Ok(result)
}

pub fn summary(v: &Value) -> String {
    let l = &v["latency_ms"];
    let c = &v["cpu"]["us_per_push"];
    format!(
        "postgres: {relays} relays, {dev} devices, {s} s after {w} s warm-up, {eb}-byte envelopes\n  \
         {pps} pushes/s ({n} pushes, {err} errors; peers acked {acked}, drain every {dr} ms)\n  \
         latency ms: mean {mean}, p50 {p50}, p90 {p90}, p99 {p99}, p99.9 {p999}, max {max}\n  \
         CPU µs per push: relays {cr}, postgres {cp}, load generator {cl}, other {co} (machine {busy}% busy)\n  \
         target ≥ 2000/s and p99 < 50 ms: {met}",
        relays = v["relays"],
        dev = v["devices"],
        s = v["seconds"],
        w = v["warmup_s"],
        eb = v["envelope_bytes"],
        pps = v["pushes_per_s"],
        n = v["pushes"],
        err = v["errors"],
        acked = v["acked_envelopes"],
        dr = v["drain_every_ms"],
        mean = l["mean"],
        p50 = l["p50"],
        p90 = l["p90"],
        p99 = l["p99"],
        p999 = l["p999"],
        max = l["max"],
        cr = c["relays"],
        cp = c["postgres"],
        cl = c["load_generator"],
        co = c["other"],
        busy = v["cpu"]["busy_pct"],
        met = if v["target_met"].as_bool() == Some(true) { "met" } else { "NOT met" },
    )
}
