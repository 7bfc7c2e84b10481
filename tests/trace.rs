//! The scheduler trace: the file is valid JSON (checked by a small parser below, no crates) with
//! the expected tracks, slices and instant events — whether it was asked for by `Config::trace`
//! (completed when `rt::run` returns) or by `SMARM_TRACE` (completed when `main` returns).

use smarm::rt::{self, Config};
use smarm::sync::mpsc;
use smarm::thread;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

// ---- a test-only JSON parser ----

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.get(key),
            _ => None,
        }
    }
    fn str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Json::Str(s)) => Some(s),
            _ => None,
        }
    }
    fn num(&self, key: &str) -> Option<f64> {
        match self.get(key) {
            Some(Json::Num(n)) => Some(*n),
            _ => None,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn parse(text: &str) -> Result<Json, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing bytes at {}", p.i));
        }
        Ok(v)
    }
    fn err<T>(&self, what: &str) -> Result<T, String> {
        let end = (self.i + 40).min(self.s.len());
        Err(format!(
            "{what} at byte {}: {:?}",
            self.i,
            String::from_utf8_lossy(&self.s[self.i..end])
        ))
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\n' | b'\r' | b'\t') {
            self.i += 1;
        }
    }
    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }
    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            None => self.err("unexpected end"),
            Some(b'{') => {
                self.i += 1;
                let mut m = BTreeMap::new();
                self.ws();
                if self.eat("}") {
                    return Ok(Json::Obj(m));
                }
                loop {
                    self.ws();
                    let Json::Str(k) = self.value()? else {
                        return self.err("object key is not a string");
                    };
                    self.ws();
                    if !self.eat(":") {
                        return self.err("expected ':'");
                    }
                    let v = self.value()?;
                    if m.insert(k, v).is_some() {
                        return self.err("duplicate key");
                    }
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("}") {
                        return Ok(Json::Obj(m));
                    }
                    return self.err("expected ',' or '}'");
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Ok(Json::Arr(v));
                }
                loop {
                    v.push(self.value()?);
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("]") {
                        return Ok(Json::Arr(v));
                    }
                    return self.err("expected ',' or ']'");
                }
            }
            Some(b'"') => {
                self.i += 1;
                let mut out = String::new();
                loop {
                    let Some(&c) = self.s.get(self.i) else {
                        return self.err("unterminated string");
                    };
                    self.i += 1;
                    match c {
                        b'"' => return Ok(Json::Str(out)),
                        b'\\' => {
                            let e = self.s.get(self.i).copied();
                            self.i += 1;
                            match e {
                                Some(b'"') => out.push('"'),
                                Some(b'\\') => out.push('\\'),
                                Some(b'/') => out.push('/'),
                                Some(b'n') => out.push('\n'),
                                Some(b't') => out.push('\t'),
                                Some(b'r') => out.push('\r'),
                                Some(b'b') => out.push('\u{8}'),
                                Some(b'f') => out.push('\u{c}'),
                                Some(b'u') => {
                                    let hex = std::str::from_utf8(&self.s[self.i..self.i + 4])
                                        .map_err(|e| e.to_string())?;
                                    let code =
                                        u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                                    out.push(char::from_u32(code).unwrap_or('?'));
                                    self.i += 4;
                                }
                                _ => return self.err("bad escape"),
                            }
                        }
                        c if c < 0x20 => return self.err("raw control character in string"),
                        _ => {
                            // Copy one UTF-8 sequence.
                            let start = self.i - 1;
                            let mut end = self.i;
                            while end < self.s.len() && (self.s[end] & 0xC0) == 0x80 {
                                end += 1;
                            }
                            out.push_str(
                                std::str::from_utf8(&self.s[start..end])
                                    .map_err(|e| e.to_string())?,
                            );
                            self.i = end;
                        }
                    }
                }
            }
            Some(b't') if self.eat("true") => Ok(Json::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Json::Bool(false)),
            Some(b'n') if self.eat("null") => Ok(Json::Null),
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                self.i += 1;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'
                    )
                {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                // JSON forbids leading zeros ("01") and a bare trailing dot ("1.").
                let digits = text.trim_start_matches('-');
                if (digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0."))
                    || text.ends_with('.')
                {
                    return self.err("malformed number");
                }
                text.parse::<f64>()
                    .map(Json::Num)
                    .or_else(|_| self.err("malformed number"))
            }
            Some(_) => self.err("unexpected character"),
        }
    }
}

#[test]
fn the_json_checker_rejects_what_it_should() {
    assert!(Parser::parse(r#"[{"a":1.5,"b":[true,null,"x\"y"]}]"#).is_ok());
    for bad in [
        "[1,]",
        "[1",
        r#"{"a":1,}"#,
        r#"{"a" 1}"#,
        "[01]",
        "[1.]",
        "[\"a\nb\"]",
        "[1] x",
        r#"{"a":1,"a":2}"#,
    ] {
        assert!(Parser::parse(bad).is_err(), "accepted {bad:?}");
    }
}

// ---- the traced program ----

/// A small known program: three named green threads; `ping` and `pong` exchange 20 messages
/// over channels, `sleeper` sleeps; `main` joins all three. Run on one worker, so that every
/// `recv` parks (the reply cannot arrive from another core first) and the counts below are exact
/// lower bounds.
fn known_program() {
    let (to_pong, pong_rx) = mpsc::channel::<u32>();
    let (to_ping, ping_rx) = mpsc::channel::<u32>();
    let pong = thread::Builder::new()
        .name("pong".into())
        .spawn(move || {
            for v in pong_rx {
                to_ping.send(v + 1).unwrap();
            }
        })
        .unwrap();
    let ping = thread::Builder::new()
        .name("ping".into())
        .spawn(move || {
            let mut v = 0;
            for _ in 0..20 {
                to_pong.send(v).unwrap();
                v = ping_rx.recv().unwrap();
            }
            v
        })
        .unwrap();
    let sleeper = thread::Builder::new()
        .name("sleeper".into())
        .spawn(|| thread::sleep(std::time::Duration::from_millis(2)))
        .unwrap();
    assert_eq!(ping.join().unwrap(), 20);
    pong.join().unwrap();
    sleeper.join().unwrap();
}

fn temp_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("smarm-trace-{tag}-{}.json", std::process::id()))
}

/// Parses the trace and checks what `known_program` must have left in it.
fn check_trace(path: &Path) {
    let text = std::fs::read_to_string(path).expect("the trace file");
    let json = Parser::parse(&text).unwrap_or_else(|e| panic!("invalid JSON: {e}\n{text}"));
    let Json::Arr(events) = json else {
        panic!("the trace is not an array");
    };
    let ph = |e: &Json| e.str("ph").unwrap_or("").to_string();
    for e in &events {
        assert!(e.get("pid").is_some() && e.get("tid").is_some() && e.str("name").is_some());
        match ph(e).as_str() {
            "X" => {
                assert!(
                    e.num("ts").is_some() && e.num("dur").unwrap() >= 0.0,
                    "{e:?}"
                )
            }
            "i" => assert!(e.num("ts").is_some(), "{e:?}"),
            "M" => {}
            other => panic!("unexpected phase {other:?}"),
        }
    }
    // Worker tracks are named.
    let track_names: Vec<&str> = events
        .iter()
        .filter(|e| ph(e) == "M" && e.str("name") == Some("thread_name"))
        .filter_map(|e| e.get("args")?.str("name"))
        .collect();
    assert!(
        track_names.iter().any(|n| n.starts_with("smarm-worker-")),
        "{track_names:?}"
    );
    // Each named green thread has run slices; ping and pong many (they park on every message).
    let slices = |name: &str| {
        events
            .iter()
            .filter(|e| ph(e) == "X" && e.str("name") == Some(name))
            .count()
    };
    assert!(slices("ping") >= 10, "ping ran {} times", slices("ping"));
    assert!(slices("pong") >= 10, "pong ran {} times", slices("pong"));
    assert!(
        slices("sleeper") >= 2,
        "sleeper ran {} times",
        slices("sleeper")
    );
    // Every slice of one green thread carries the same thread id and Pid.
    for name in ["ping", "pong", "sleeper"] {
        let ids: std::collections::HashSet<String> = events
            .iter()
            .filter(|e| ph(e) == "X" && e.str("name") == Some(name))
            .map(|e| format!("{:?}", e.get("args")))
            .collect();
        assert_eq!(ids.len(), 1, "{name}: {ids:?}");
    }
    let instants = |name: &str, arg: &str, value: &str| {
        events
            .iter()
            .filter(|e| ph(e) == "i" && e.str("name") == Some(name))
            .filter(|e| e.get("args").and_then(|a| a.str(arg)) == Some(value))
            .count()
    };
    for name in ["ping", "pong", "sleeper"] {
        assert_eq!(instants("spawn", "name", name), 1, "spawn of {name}");
    }
    assert!(instants("park", "reason", "channel") >= 20);
    assert!(instants("park", "reason", "sleep") >= 1);
    assert!(instants("park", "name", "ping") >= 10);
    assert!(
        events
            .iter()
            .filter(|e| e.str("name") == Some("wake"))
            .count()
            >= 20
    );
    // Slices on one track never overlap: a worker runs one green thread at a time.
    let mut by_track: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for e in events.iter().filter(|e| ph(e) == "X") {
        let tid = format!("{:?}", e.get("tid"));
        let (ts, dur) = (e.num("ts").unwrap(), e.num("dur").unwrap());
        by_track.entry(tid).or_default().push((ts, ts + dur));
    }
    for spans in by_track.values_mut() {
        spans.sort_by(|a, b| a.partial_cmp(b).unwrap());
        for w in spans.windows(2) {
            assert!(w[0].1 <= w[1].0 + 0.001, "overlapping slices {w:?}");
        }
    }
}

#[test]
fn config_trace_is_complete_when_run_returns() {
    // Twice in one process: the second trace starts clean (no events of the first).
    for round in 0..2 {
        let path = temp_path(&format!("config-{round}"));
        rt::run(Config::new().workers(1).trace(&path), known_program);
        check_trace(&path);
        std::fs::remove_file(&path).ok();
    }
}

#[test]
fn smarm_trace_is_valid_json_after_main_returns() {
    if std::env::var("SMARM_CHILD").as_deref() == Ok("env-trace") {
        // The global runtime, started lazily, never shuts down: the trace is completed at exit.
        known_program();
        // A run's slice is recorded by its worker just after the thread switches out, which for a
        // thread's last run is just after `join` returned to us: give the workers a moment, or
        // the exit may close the trace before the last slices are recorded (they would be lost,
        // as events of threads still running at exit are).
        std::thread::sleep(std::time::Duration::from_millis(20));
        return;
    }
    let path = temp_path("env");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "smarm_trace_is_valid_json_after_main_returns",
            "--exact",
            "--test-threads=1",
        ])
        .env("SMARM_CHILD", "env-trace")
        .env("SMARM_TRACE", &path)
        .env("SMARM_WORKERS", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_trace(&path);
    std::fs::remove_file(&path).ok();
}

#[test]
fn a_long_trace_spans_many_buffers_and_stays_valid() {
    // Enough events to fill several per-thread buffers, so the writer thread's hand-off path runs.
    if std::env::var("SMARM_CHILD").as_deref() == Ok("long-trace") {
        for _ in 0..20 {
            let hs: Vec<_> = (0..1000).map(|i| thread::spawn(move || i)).collect();
            for h in hs {
                h.join().unwrap();
            }
        }
        std::process::exit(0); // exit through `process::exit`, not by returning
    }
    let path = temp_path("long");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "a_long_trace_spans_many_buffers_and_stays_valid",
            "--exact",
            "--test-threads=1",
        ])
        .env("SMARM_CHILD", "long-trace")
        .env("SMARM_TRACE", &path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&path).unwrap();
    let Ok(Json::Arr(events)) = Parser::parse(&text) else {
        panic!("invalid trace");
    };
    let spawns = events
        .iter()
        .filter(|e| e.str("name") == Some("spawn"))
        .count();
    let dropped = events
        .iter()
        .find(|e| e.str("name") == Some("smarm_trace"))
        .and_then(|e| e.get("args")?.num("dropped_events"))
        .expect("the closing metadata");
    // Nothing is lost unless the writer fell behind, and then the count says so.
    assert!(
        spawns == 20_000 || dropped > 0.0,
        "{spawns} spawns, {dropped} dropped"
    );
    std::fs::remove_file(&path).ok();
}
