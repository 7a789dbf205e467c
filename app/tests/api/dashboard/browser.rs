//! The dashboard in a real browser: headless Chromium (Debian's `chromium`)
//! driven over WebDriver (`chromedriver`, one per test on a port of its own,
//! killed when the test ends), on a phone-sized window. Every page visited is
//! checked with axe-core (`REPLENISH_AXE_JS`, fetched by `scripts/test`): no
//! serious or critical violation.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::helpers::{Backend, TestApp, spawn_app};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process, killed on drop (also when the test panics).
struct Driver {
    child: Child,
    url: String,
    stopped: bool,
}

impl Driver {
    async fn start() -> Self {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(tool).exists(),
                "{tool} is missing: install Debian's chromium and chromium-driver (scripts/test does, as root)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("port").port();
        // A process group of its own, so that the Chromium it starts can be killed with it.
        let child = Command::new(CHROMEDRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Self { child, url: format!("http://127.0.0.1:{port}"), stopped: false };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chromedriver did not listen on port {port} within 10 s");
    }

    /// A new Chromium session: headless, phone-sized.
    async fn browser(&self) -> Client {
        let args = [
            "--headless",
            // Root in a container: Chromium's sandbox cannot start there.
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            // A phone-sized window: the pages must be usable there.
            "--window-size=390,844",
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        });
        let serde_json::Value::Object(capabilities) = capabilities else { unreachable!() };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session");
        let timeouts = TimeoutConfiguration::new(Some(Duration::from_secs(30)), Some(Duration::from_secs(30)), None);
        client.update_timeouts(timeouts).await.expect("timeouts");
        client
    }
}

impl Driver {
    /// Kills chromedriver and every process of its group (the browser it started,
    /// which would outlive a killed chromedriver otherwise).
    fn stop(&mut self) {
        // Once reaped, the id may name another process group.
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The axe-core script named by `REPLENISH_AXE_JS`.
fn axe_source() -> String {
    let path = std::env::var("REPLENISH_AXE_JS").unwrap_or_default();
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core not found at REPLENISH_AXE_JS={path:?} ({e}): run the tests through scripts/test, \
             which fetches it from npm into ~/.cache/replenish-tools, or point REPLENISH_AXE_JS at axe.min.js"
        )
    })
}

/// A browser on one app, checking each page it lands on.
struct Session {
    driver: Client,
    base: String,
    axe: String,
    /// Dropped with the session: chromedriver and its browser stop, also when an
    /// assertion failed before the session was closed.
    _chromedriver: Driver,
}

impl Session {
    async fn open(chromedriver: Driver, app: &TestApp) -> Self {
        let axe = axe_source();
        let driver = chromedriver.browser().await;
        Self { driver, base: app.address.clone(), axe, _chromedriver: chromedriver }
    }

    /// Ends the browser session properly.
    async fn quit(&self) {
        self.driver.clone().close().await.expect("browser quits");
    }

    /// Asserts that axe finds no serious or critical violation on the current page.
    async fn accessible(&self) {
        self.driver.execute(&self.axe, Vec::new()).await.expect("axe loads");
        let found = self
            .driver
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                axe.run(document, { resultTypes: ["violations"] }).then(
                  (r) => done(r.violations
                    .filter((v) => v.impact === "serious" || v.impact === "critical")
                    .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)),
                  (e) => done([`axe failed: ${e}`]));"#,
                Vec::new(),
            )
            .await
            .expect("axe runs");
        let violations: Vec<String> = serde_json::from_value(found).expect("a list of violations");
        let url = self.driver.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        assert!(violations.is_empty(), "accessibility violations on {url}:\n{}", violations.join("\n"));
    }

    /// Goes to `path` and checks the page.
    async fn visit(&self, path: &str) -> String {
        self.driver.goto(&format!("{}{path}", self.base)).await.expect("page loads");
        self.accessible().await;
        self.driver.source().await.expect("page source")
    }

    async fn click(&self, by: Locator<'_>) {
        self.driver.find(by).await.expect("element to click").click().await.expect("click");
    }

    async fn text(&self, by: Locator<'_>) -> String {
        self.driver.find(by).await.expect("element").text().await.expect("text")
    }

    /// Waits (at most 10 s) until the element `by` shows `expected`: after a
    /// click that navigates, the old page may still be there for a moment.
    async fn shows(&self, by: Locator<'_>, expected: &str) {
        let mut seen = String::new();
        for _ in 0..200 {
            if let Ok(element) = self.driver.find(by).await
                && let Ok(text) = element.text().await
            {
                if text.contains(expected) {
                    return;
                }
                seen = text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{by:?} never showed {expected:?} (last: {seen:?})");
    }

    /// How many elements `by` finds once that is `expected` (waiting at most
    /// 10 s, as [`Session::shows`] does, for a navigation to finish), or the last count.
    async fn count_becomes(&self, by: Locator<'_>, expected: usize) -> usize {
        let mut seen = 0;
        for _ in 0..200 {
            seen = self.driver.find_all(by).await.map(|found| found.len()).unwrap_or(seen);
            if seen == expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        seen
    }

    async fn path(&self) -> String {
        let url = self.driver.current_url().await.expect("url");
        format!("{}{}", url.path(), url.query().map(|q| format!("?{q}")).unwrap_or_default())
    }

    async fn sign_in(&self, key: &str) {
        self.visit("/dashboard/sign-in").await;
        self.driver.find(Locator::Id("api_key")).await.expect("key field").send_keys(key).await.expect("typed");
        self.click(Locator::Css("form.card button[type=submit]")).await;
        self.shows(Locator::Id("funnel-heading"), "Funnel").await;
        assert_eq!(self.path().await, "/dashboard", "signed in, on the overview");
        assert!(!self.driver.current_url().await.expect("url").as_str().contains(key), "the key is never in a URL");
    }

    async fn sign_out(&self) {
        self.click(Locator::Css("form.sign-out button")).await;
        self.shows(Locator::Css("p[role=status]"), "You have signed out").await;
        assert_eq!(self.path().await, "/dashboard/sign-in?signed_out=1");
    }
}

/// Signs in (after a wrong key), sees the device registered through the API,
/// sees an order appear once a detection prompted and the wearer accepted, with
/// its timeline; cancels it, revokes the device and signs out. Returns the order id.
async fn merchant_flow(browser: &Session, app: &TestApp, key: &str, device_token: &str) -> String {
    let page = browser.visit("/dashboard").await;
    assert!(page.contains("Tenant API key"), "no session: the sign-in form");
    let field = browser.driver.find(Locator::Id("api_key")).await.expect("key field");
    field.send_keys("rpl_t_wrong").await.expect("typed");
    browser.click(Locator::Css("form.card button[type=submit]")).await;
    browser.shows(Locator::Css("p[role=alert]"), "was not accepted").await;
    browser.accessible().await;
    browser.sign_in(key).await;

    let devices = browser.visit("/dashboard/devices").await;
    assert!(devices.contains("data-device=\"glasses\""), "the device registered through the API is listed");
    assert_eq!(browser.text(Locator::Css("tr[data-device=glasses] td .badge")).await, "active");
    assert!(browser.visit("/dashboard/orders").await.contains("No orders match."));

    let intent = app.prompted(device_token, "e1", "water_bottle").await;
    let decided = app.decide(device_token, &intent, true, "GESTURE").await;
    let order = decided.assert_status(200)["order"]["order_id"].as_str().expect("an order").to_owned();
    let overview = browser.visit("/dashboard?period=7d").await;
    assert!(overview.contains("Detections: 1, Prompts: 1, Accepted: 1, Orders confirmed: 1"), "{overview}");
    browser.visit("/dashboard/intents").await;
    assert_eq!(browser.text(Locator::Css("#intents tbody tr td .badge")).await, "CONFIRMED");
    browser.visit("/dashboard/orders").await;
    browser.click(Locator::Css(&format!("tr[data-order='{order}'] a"))).await;
    browser.shows(Locator::Id("timeline"), "CONFIRMED").await;
    assert_eq!(browser.path().await, format!("/dashboard/orders/{order}"));
    browser.accessible().await;
    assert!(browser.text(Locator::Id("timeline")).await.contains("PENDING"));

    browser.click(Locator::Css("#main form button.danger")).await;
    browser.shows(Locator::Id("order-status"), "CANCELLED").await;
    assert_eq!(browser.path().await, format!("/dashboard/orders/{order}"));
    assert!(browser.text(Locator::Id("timeline")).await.contains("by merchant"));

    browser.visit("/dashboard/devices").await;
    browser.click(Locator::Css("tr[data-device=glasses] button.danger")).await;
    browser.shows(Locator::Css("tr[data-device=glasses] td .badge"), "revoked").await;
    browser.visit("/dashboard/catalog").await;
    webhooks_flow(browser, app, key, &order).await;
    browser.sign_out().await;
    browser.accessible().await;
    assert!(browser.visit("/dashboard/devices").await.contains("Tenant API key"), "signed out: back to the form");
    order
}

/// The webhooks pages: an endpoint whose receiver is down lists its failed
/// deliveries of the order's events; a redelivery from the page adds one.
async fn webhooks_flow(browser: &Session, app: &TestApp, key: &str, order: &str) {
    let endpoint = serde_json::json!({"url": "http://127.0.0.1:9/hook", "event_types": ["order.cancelled"]});
    let put = app.call(reqwest::Method::PUT, "/api/v1/webhook-endpoints/erp", Some(key), Some(endpoint)).await;
    put.assert_status(201);
    let redeliver = app
        .call(reqwest::Method::GET, &format!("/api/v1/events?object_id={order}&type=order.cancelled"), Some(key), None)
        .await;
    let event = redeliver.assert_status(200)["items"][0]["id"].as_str().expect("the cancellation's event").to_owned();
    // The endpoint did not exist when the order was cancelled: queue the event for it.
    let path = format!("/api/v1/events/{event}/redeliver?endpoint=erp");
    app.call(reqwest::Method::POST, &path, Some(key), None).await.assert_status(202);
    let list = browser.visit("/dashboard/webhooks").await;
    assert!(list.contains("http://127.0.0.1:9/hook"), "{list}");
    browser.click(Locator::Css("#endpoints a[href='/dashboard/webhooks/erp']")).await;
    browser.shows(Locator::Css("#deliveries tbody"), "order.cancelled").await;
    browser.accessible().await;
    let before = browser.driver.find_all(Locator::Css("#deliveries tbody tr")).await.expect("rows").len();
    browser.click(Locator::Css("#deliveries tbody tr button")).await;
    assert_eq!(browser.path().await, "/dashboard/webhooks/erp");
    // The click's navigation stays on this path: the old page may still be there for a moment.
    let after = browser.count_becomes(Locator::Css("#deliveries tbody tr"), before + 1).await;
    assert_eq!(after, before + 1, "the redelivery is listed");
}

/// Everything a merchant does, in the browser; then another tenant's session
/// sees none of it, and a forged form is refused.
async fn a_merchant_works_through_the_dashboard(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, device_token) = app.seeded_tenant("acme").await;
    let other_key = app.create_tenant("globex").await;
    let browser = Session::open(Driver::start().await, &app).await;
    let order = merchant_flow(&browser, &app, &key, &device_token).await;

    // Another tenant's session sees none of it, and acme's ids are not found.
    browser.sign_in(&other_key).await;
    assert!(browser.visit("/dashboard/devices").await.contains("No devices match."));
    assert!(browser.visit("/dashboard/orders").await.contains("No orders match."));
    let missing = browser.visit(&format!("/dashboard/orders/{order}")).await;
    assert!(missing.contains("There is no such order"), "{missing}");
    browser.visit("/dashboard/no-such-page").await;

    // A form posted from elsewhere, without the session's token, is refused.
    browser
        .driver
        .execute(
            r#"const f = document.createElement("form");
            f.method = "post"; f.action = "/dashboard/devices/glasses/revoke";
            document.body.appendChild(f); f.submit();"#,
            Vec::new(),
        )
        .await
        .expect("forged form sent");
    browser.shows(Locator::Css("h1"), "Form refused").await;
    browser.accessible().await;
    browser.quit().await;
}

on_both_backends!(a_merchant_works_through_the_dashboard);
