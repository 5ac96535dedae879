"""A tiny W3C WebDriver client (stdlib only) for the desktop e2e suite.

Why not selenium/WebdriverIO: the suite needs a dozen endpoints, and tauri-driver +
WebKitWebDriver speak plain W3C JSON over HTTP, so this keeps the suite dependency-free.
"""

import base64
import http.client
import json
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a5d6-4a4f2c4d5fbe"


class WebDriverError(RuntimeError):
    pass


class AppGone(RuntimeError):
    """The WebDriver connection dropped mid-command (see README: the first-session race it was)."""


class Session:
    """One WebDriver session = one app process launched by tauri-driver."""

    # True when `url` is WebKitWebDriver itself (e2e.py's default): the capability tauri-driver
    # would have made from `tauri:options` is sent directly. See README, "The flake".
    direct = False

    def __init__(self, url, application, timeout=20.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        if Session.direct:
            always = {"webkitgtk:browserOptions": {"binary": application, "args": []}}
        else:
            always = {"browserName": "wry", "tauri:options": {"application": application}}
        caps = {"capabilities": {"alwaysMatch": always}}
        value = self._raw("POST", "/session", caps)
        self.id = value["sessionId"]

    def _raw(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                out = json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise WebDriverError(f"{method} {path}: {e.code} {e.read()[:500]!r}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as e:
            raise AppGone(f"{method} {path}: {e!r}") from None
        return out.get("value", out)

    def cmd(self, method, path, body=None):
        return self._raw(method, f"/session/{self.id}{path}", body)

    def quit(self):
        try:
            self.cmd("DELETE", "")
        except Exception:
            pass

    # ---- scripts -----------------------------------------------------------------------------

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def js_async(self, script, *args):
        """`script` is an async function body; its return value comes back (errors raise)."""
        wrapped = (
            "const done = arguments[arguments.length - 1];"
            f"(async () => {{ {script} }})().then(v => done({{ok: v === undefined ? null : v}}), e => done({{err: String(e && (e.message || JSON.stringify(e)) || e)}}));"
        )
        out = self.cmd("POST", "/execute/async", {"script": wrapped, "args": list(args)})
        if out and "err" in out:
            raise WebDriverError(out["err"])
        return out.get("ok") if out else None

    # ---- elements ----------------------------------------------------------------------------

    def find_all(self, css):
        # WebKitWebDriver can answer a query with "stale element reference" when the page replaces
        # a matching node while the query runs (seen in CI: a banner removed by Svelte mid-query).
        # A query holds no element yet, so asking again is the right answer, not a failure.
        for attempt in range(5):
            try:
                found = self.cmd("POST", "/elements", {"using": "css selector", "value": css})
                break
            except WebDriverError as e:
                if "stale element reference" not in str(e) or attempt == 4:
                    raise
                time.sleep(0.1)
        if not isinstance(found, list):
            raise WebDriverError(f"find {css}: {found}")
        return [e.get(ELEMENT) or next(iter(e.values())) for e in found]

    def wait(self, css, timeout=None, what=None):
        """Waits for `css` to match; returns the first element id."""
        end = time.time() + (timeout or self.timeout)
        while True:
            found = self.find_all(css)
            if found:
                return found[0]
            if time.time() > end:
                raise WebDriverError(f"timed out waiting for {what or css}")
            time.sleep(0.4)

    def wait_gone(self, css, timeout=None):
        end = time.time() + (timeout or self.timeout)
        while self.find_all(css):
            if time.time() > end:
                raise WebDriverError(f"timed out waiting for {css} to disappear")
            time.sleep(0.4)

    def wait_until(self, fn, what, timeout=None):
        end = time.time() + (timeout or self.timeout)
        while True:
            v = fn()
            if v:
                return v
            if time.time() > end:
                raise WebDriverError(f"timed out waiting for {what}")
            time.sleep(0.25)

    def click(self, css, timeout=None):
        # A re-render between the query and the click leaves a stale id: the user would click the
        # new node, so the test does too (up to 3 times; a node that keeps vanishing still fails).
        for attempt in range(3):
            el = self.wait(css, timeout)
            try:
                self.cmd("POST", f"/element/{el}/click", {})
                return el
            except WebDriverError as e:
                if "stale element reference" not in str(e) or attempt == 2:
                    raise
                time.sleep(0.1)

    def click_hiding(self, css, timeout=None):
        """Clicks a button that hides or closes the window. A WebDriver click waits for the page to settle,
        which a hidden window never reports (WebKitWebDriver then times out or crashes), so the click is
        dispatched from a script that returns at once."""
        self.wait(css, timeout)
        self.js("setTimeout(() => document.querySelector(arguments[0]).click(), 0); return true;", css)

    def text(self, css):
        """The element's text content (WebKitWebDriver's /text is empty for some layouts)."""
        self.wait(css)
        return self.js("return document.querySelector(arguments[0]).textContent.trim();", css)

    def attr(self, css, name):
        return self.cmd("GET", f"/element/{self.wait(css)}/attribute/{name}")

    def type(self, css, value):
        """Sets an input's value the way typing does (fires `input`, so Svelte bindings see it)."""
        self.wait(css)
        self.js(
            "const el = document.querySelector(arguments[0]); el.focus(); el.value = arguments[1];"
            "el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true}));",
            css,
            value,
        )

    # W3C key codes of the special keys the tests press.
    KEYS = {"down": "\ue015", "up": "\ue013", "enter": "\ue007", "backspace": "\ue003", "home": "\ue011", "delete": "\ue017", "escape": "\ue00c"}

    def press(self, *keys):
        """Presses keys on the focused element (names from KEYS, or single characters), as a user does."""
        actions = []
        for k in keys:
            v = self.KEYS.get(k, k)
            actions += [{"type": "keyDown", "value": v}, {"type": "keyUp", "value": v}]
        self.cmd("POST", "/actions", {"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})
        self.cmd("DELETE", "/actions")

    def screenshot(self, path):
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
