//! The login page in a real browser: headless Chromium, driven over WebDriver by chromedriver,
//! signs in as alice on the lab's consent page and approves; the conforming client, waiting on
//! its loopback listener, receives the code and finishes the flow over TLS.
//!
//! Chromium and chromedriver come from Debian (`chromium`, `chromium-driver`); `cargo xtask test`
//! and `.ci/run` install them when they are missing. Chromium trusts the lab's server key through
//! `--ignore-certificate-errors-spki-list`, which pins that one key rather than switching TLS
//! checks off.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use lab_client::{ClientConfig, Event, McpClient};
use lab_harness::{LabConfig, start};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> anyhow::Result<Self> {
        if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
            bail!(
                "{CHROMEDRIVER} or {CHROMIUM} is missing: run `.ci/run`, which installs Debian's chromium and chromium-driver"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("failed to start chromedriver")?;
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build()?;
        let driver = Self { child, base: format!("http://127.0.0.1:{port}"), http };
        for _ in 0..100 {
            if driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await
                .is_ok_and(|response| response.status().is_success())
            {
                return Ok(driver);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("chromedriver did not come up")
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await?.json().await?;
        if let Some(error) = response["value"]["error"].as_str() {
            bail!("WebDriver {path}: {error}: {}", response["value"]["message"]);
        }
        Ok(response["value"].clone())
    }
}

/// A browser session.
struct Browser<'a> {
    driver: &'a Driver,
    session: String,
}

impl Browser<'_> {
    async fn open<'a>(
        driver: &'a Driver,
        spki_pin: &str,
        profile_dir: &std::path::Path,
    ) -> anyhow::Result<Browser<'a>> {
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=900,1000".to_owned(),
            format!("--user-data-dir={}", profile_dir.display()),
            format!("--ignore-certificate-errors-spki-list={spki_pin}"),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}});
        let created = driver.call(reqwest::Method::POST, "/session", Some(capabilities)).await?;
        let session = created["sessionId"].as_str().context("no WebDriver session id")?.to_owned();
        Ok(Browser { driver, session })
    }

    async fn go(&self, url: &str) -> anyhow::Result<()> {
        self.driver
            .call(reqwest::Method::POST, &format!("/session/{}/url", self.session), Some(json!({"url": url})))
            .await?;
        Ok(())
    }

    async fn element(&self, css: &str) -> anyhow::Result<String> {
        let found = self
            .driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}/element", self.session),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        found["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no element id for {css}: {found}"))
    }

    async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let element = self.element(css).await?;
        self.driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}/element/{element}/value", self.session),
                Some(json!({"text": text})),
            )
            .await?;
        Ok(())
    }

    async fn click(&self, css: &str) -> anyhow::Result<()> {
        let element = self.element(css).await?;
        self.driver
            .call(reqwest::Method::POST, &format!("/session/{}/element/{element}/click", self.session), Some(json!({})))
            .await?;
        Ok(())
    }

    async fn source(&self) -> anyhow::Result<String> {
        Ok(self
            .driver
            .call(reqwest::Method::GET, &format!("/session/{}/source", self.session), None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    async fn screenshot(&self, path: &std::path::Path) -> anyhow::Result<()> {
        use base64::Engine as _;
        let encoded =
            self.driver.call(reqwest::Method::GET, &format!("/session/{}/screenshot", self.session), None).await?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.as_str().unwrap_or_default())?;
        std::fs::write(path, bytes)?;
        Ok(())
    }

    async fn close(self) {
        let _ = self.driver.call(reqwest::Method::DELETE, &format!("/session/{}", self.session), None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_and_approves_in_chromium() -> anyhow::Result<()> {
    let lab = start(LabConfig::ephemeral()).await?;
    let driver = Driver::start().await?;
    // The client waits on its loopback listener; the authorization URL it would print goes to
    // the browser instead.
    let (url_sender, mut url_receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut config = ClientConfig::new(lab.resource().to_owned()).allow([lab.as_addr().to_string()]);
    config.ca_pem = Some(lab.ca_pem().as_bytes().to_vec());
    config.callback_timeout = Duration::from_secs(60);
    config.events = Some(std::sync::Arc::new(move |event: &Event| {
        if let Event::OpenInBrowser(url) = event {
            let _ = url_sender.send(url.clone());
        }
    }));
    let mut client = McpClient::new(config)?;
    let flow = tokio::spawn(async move {
        let connected = client.connect().await;
        let result = match connected {
            Ok(()) => client.call_tool("list_orders", json!({})).await.map(Some),
            Err(error) => Err(error),
        };
        (result, client.credentials().map(|credentials| credentials.how))
    });
    let authorization_url = tokio::time::timeout(Duration::from_secs(30), url_receiver.recv())
        .await?
        .context("the client never asked for a browser")?;
    let profile = std::env::temp_dir().join(format!("lab-chromium-{}", std::process::id()));
    let browser = Browser::open(&driver, &lab.leaf_spki_sha256(), &profile).await?;
    browser.go(&authorization_url).await?;
    let page = browser.source().await?;
    assert!(page.contains("wants access to your account"), "not the consent page: {page}");
    assert!(page.contains("mcp:read"));
    let screenshots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    browser.screenshot(&screenshots.join("consent-page.png")).await?;
    browser.type_into("#username", "alice").await?;
    browser.type_into("#password", "alice-pass").await?;
    browser.click("button[value=approve]").await?;
    let (result, how) = tokio::time::timeout(Duration::from_secs(60), flow).await??;
    let result = result.map_err(|error| anyhow::format_err!("{error}"))?.context("no result")?;
    assert!(result.to_string().contains("A-1001"), "{result}");
    assert_eq!(how, Some("dynamic registration"));
    // The browser landed on the client's callback page, not anywhere else.
    assert!(browser.source().await?.contains("You can close this window"));
    browser.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    lab.shutdown().await;
    Ok(())
}
