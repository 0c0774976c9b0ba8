//! Real Alertmanager (Debian `prometheus-alertmanager`) on loopback and a local HTTP receiver,
//! for the alerting tests.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const AM_BIN: &str = "prometheus-alertmanager";

pub fn have_alertmanager() -> bool {
    super::installed(AM_BIN, "prometheus-alertmanager")
}

/// What a local HTTP receiver got: path, Idempotency-Key, JSON body.
pub type Hits = Arc<Mutex<Vec<(String, Option<String>, serde_json::Value)>>>;

/// A local HTTP receiver on loopback; paths starting with `/reject` answer 400.
pub async fn webhook() -> (String, Hits) {
    let hits: Hits = Arc::default();
    let h = hits.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let h = h.clone();
        async move {
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            h.lock().unwrap().push((uri.path().to_string(), key, json));
            if uri.path().starts_with("/reject") {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), hits)
}

pub fn hits_on(hits: &Hits, path: &str) -> Vec<(Option<String>, serde_json::Value)> {
    hits.lock()
        .unwrap()
        .iter()
        .filter(|(p, _, _)| p == path)
        .map(|(_, k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A real Alertmanager on loopback whose only receiver posts to `{hook}/am`.
pub struct Am {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
}

impl Am {
    pub fn start(hook: &str) -> Am {
        let dir = tempfile::tempdir().unwrap();
        let port = super::free_port();
        std::fs::write(
            dir.path().join("am.yml"),
            format!(
                r#"route:
  receiver: hook
  group_by: [alertname, brand, incident_id]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 4h
receivers:
  - name: hook
    webhook_configs:
      - url: {hook}/am
        send_resolved: true
"#
            ),
        )
        .unwrap();
        let mut am = Am {
            child: None,
            dir,
            port,
        };
        am.spawn();
        am
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn spawn(&mut self) {
        let d = self.dir.path();
        let child = Command::new(AM_BIN)
            .arg(format!("--config.file={}", d.join("am.yml").display()))
            .arg(format!("--storage.path={}", d.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-alertmanager");
        self.child = Some(child);
        let ready = format!("{}/-/ready", self.url());
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if http::blocking_get_ok(&ready) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("alertmanager did not become ready on port {}", self.port);
    }

    /// Graceful stop (SIGTERM), so its notification log is saved as in production.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }

    pub fn amtool(&self, args: &[&str]) -> String {
        let out = Command::new("amtool")
            .arg(format!("--alertmanager.url={}", self.url()))
            .args(args)
            .output()
            .expect("run amtool");
        assert!(
            out.status.success(),
            "amtool {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}

impl Drop for Am {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A blocking GET without a second HTTP client crate.
mod http {
    pub fn blocking_get_ok(url: &str) -> bool {
        let url = url.strip_prefix("http://").unwrap_or(url);
        let (host, path) = url.split_once('/').unwrap_or((url, ""));
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(host) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
        let req = format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
    }
}

pub async fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {secs} s waiting for {what}");
}

/// Alertmanager webhook payloads for an incident: (status, alertname) in arrival order.
pub fn am_notices(hits: &Hits, incident: &str) -> Vec<(String, String)> {
    hits_on(hits, "/am")
        .into_iter()
        .filter(|(_, v)| v["groupLabels"]["incident_id"] == incident)
        .map(|(_, v)| {
            (
                v["status"].as_str().unwrap_or_default().to_string(),
                v["groupLabels"]["alertname"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}
