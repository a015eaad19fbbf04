"""What a user sees of the nginx + certbot roles (molecule/web): the curl matrix.

The sandbox host runs pebble (a real ACME server) and three sites from molecule/web/vars/web.yml:
trader (Basic Auth), office (allowlist satisfy_any) and locked (allowlist only). Every request
is made inside the host to 127.0.0.1, where the test domains resolve, so Host and SNI are real.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
import shlex
import time
from dataclasses import dataclass

import pytest
import yaml

from conftest import ROOT, run_playbook, ssh_host

VARS = yaml.safe_load((ROOT / "molecule/web/vars/web.yml").read_text())
PASSWORD = VARS["web_test_password"]
PEBBLE_ROOT = "/tmp/pebble-root.pem"
PEBBLE_DIR = "https://localhost:14000/dir"
TRADER = "https://trader.example.com"
CONVERGE = "molecule/web/converge.yml"


@dataclass
class Response:
    rc: int
    status: int
    headers: dict[str, str]
    body: str
    stderr: str


@pytest.fixture(scope="module")
def web(sandbox):
    """testinfra host as root: this scenario converges without the base role (no deploy user)."""
    return ssh_host(sandbox, "root")


@pytest.fixture(scope="module", autouse=True)
def pebble_root(web) -> str:
    """The root of the chains pebble issues (it changes whenever pebble restarts)."""
    web.run_expect([0], f"curl -sS --fail --cacert /etc/pebble/ca.pem https://localhost:15000/roots/0 -o {PEBBLE_ROOT}")
    return PEBBLE_ROOT


def curl(web, url: str, *args: str) -> Response:
    cmd = ["curl", "-sS", "-i", "--max-time", "10", "--cacert", PEBBLE_ROOT, *args, url]
    res = web.run(" ".join(shlex.quote(a) for a in cmd))
    status, headers, body = 0, {}, res.stdout
    if res.rc == 0:
        head, _, body = res.stdout.partition("\r\n\r\n")
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return Response(res.rc, status, headers, body, res.stderr)


def nginx_state(web) -> str:
    """Checksums of everything the nginx role writes, and whether nginx runs."""
    return web.check_output("find /etc/nginx -type f | sort | xargs sha256sum; systemctl is-active nginx")


# --- HTTP: only the ACME challenge stays on port 80 -------------------------

def test_http_redirects_to_https(web):
    r = curl(web, "http://trader.example.com/some/page?x=1")
    assert r.status == 301
    assert r.headers["location"] == "https://trader.example.com/some/page?x=1"


def test_acme_challenge_is_served_over_http_from_the_webroot(web):
    web.run_expect([0], "echo probe-token > /var/www/acme/.well-known/acme-challenge/probe")
    try:
        r = curl(web, "http://www.trader.example.com/.well-known/acme-challenge/probe")
    finally:
        web.run("rm -f /var/www/acme/.well-known/acme-challenge/probe")
    assert (r.status, r.body.strip()) == (200, "probe-token")


# --- the UI: Basic Auth, SPA, caching, headers -------------------------------

def test_ui_without_credentials_is_401(web):
    r = curl(web, f"{TRADER}/")
    assert r.status == 401
    assert r.headers["www-authenticate"].startswith("Basic")
    assert "max-age=" in r.headers["strict-transport-security"]  # headers are sent on errors too


def test_ui_with_a_wrong_password_is_401(web):
    assert curl(web, f"{TRADER}/", "-u", "trader:wrong-password").status == 401


def test_ui_with_the_right_password_serves_the_index(web):
    r = curl(web, f"{TRADER}/", "-u", f"trader:{PASSWORD}")
    assert r.status == 200
    assert "trader index" in r.body
    assert r.headers["cache-control"] == "no-cache"


def test_spa_routes_fall_back_to_index_html(web):
    r = curl(web, f"{TRADER}/positions/BTC-USD", "-u", f"trader:{PASSWORD}")
    assert (r.status, "trader index" in r.body, r.headers["cache-control"]) == (200, True, "no-cache")
    assert curl(web, f"{TRADER}/assets/missing.0000.js", "-u", f"trader:{PASSWORD}").status == 404


def test_hashed_assets_are_cached_for_a_year_and_keep_security_headers(web):
    r = curl(web, f"{TRADER}/assets/app.3f9a1c.js", "-u", f"trader:{PASSWORD}")
    assert r.status == 200
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


def test_security_headers_and_no_version_disclosure(web):
    r = curl(web, f"{TRADER}/", "-u", f"trader:{PASSWORD}")
    assert r.headers["strict-transport-security"] == "max-age=63072000"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert r.headers["server"] == "nginx"


def test_http2_is_negotiated(web):
    out = web.check_output(f"curl -sS -o /dev/null -w '%{{http_version}}' --http2 --cacert {PEBBLE_ROOT} {TRADER}/api/health")
    assert out == "2"


# --- proxied locations: the app, without Basic Auth --------------------------

def test_api_health_reaches_the_app_without_credentials(web):
    r = curl(web, f"{TRADER}/api/health")
    assert r.status == 200
    assert json.loads(r.body) == {"ok": True, "port": 3081}


def test_proxy_prefix_is_stripped_and_forwarding_headers_are_set(web):
    r = curl(web, f"{TRADER}/__proxy/x?y=1", "-u", f"trader:{PASSWORD}",
             "--http1.1", "-H", "Upgrade: websocket", "-H", "Connection: Upgrade")  # h2 has no Upgrade
    echo = json.loads(r.body)
    assert echo["path"] == "/x?y=1"
    headers = {k.lower(): v for k, v in echo["headers"].items()}
    assert headers["host"] == "trader.example.com"
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["upgrade"] == "websocket"
    assert headers["connection"].lower() == "upgrade"
    assert "authorization" not in headers  # the UI password never reaches the app


@pytest.mark.parametrize("path, upstream", [
    ("/api/a%2Fb/../c?q=%20", "/api/a%2Fb/../c?q=%20"),    # no URI part in proxy_pass: as sent
    ("/__proxy/a%2F..%2Fb?q=1", "/a%2F..%2Fb?q=1"),        # prefix replaced on the raw URI
])
def test_proxied_paths_reach_the_app_as_the_client_sent_them(web, path, upstream):
    r = curl(web, f"{TRADER}{path}", "--path-as-is")
    assert json.loads(r.body)["path"] == upstream


def test_a_percent_encoded_proxy_prefix_is_refused(web):
    # nginx decodes it to /__proxy/ to pick the location, but the raw URI has no such prefix.
    assert curl(web, f"{TRADER}/%5F_proxy/x", "--path-as-is").status == 400


# --- IP allowlists -----------------------------------------------------------

def test_satisfy_any_lets_an_allowlisted_client_in_without_a_password(web):
    r = curl(web, "https://office.example.com/")
    assert (r.status, "office index" in r.body) == (200, True)
    assert json.loads(curl(web, "https://office.example.com/api/health").body)["port"] == 3082


def test_only_mode_refuses_clients_that_are_not_listed(web):
    assert curl(web, "https://locked.example.com/").status == 403
    assert curl(web, "https://locked.example.com/api/health").status == 403


# --- unknown host names and TLS ----------------------------------------------

def test_unknown_host_over_http_gets_the_connection_closed(web):
    r = curl(web, "http://127.0.0.1/", "-H", "Host: unknown.example.net")
    assert r.rc == 52, r.stderr  # empty reply (nginx 444)


def test_unknown_host_over_https_gets_the_handshake_rejected(web):
    r = curl(web, "https://unknown.example.net/", "--resolve", "unknown.example.net:443:127.0.0.1")
    assert r.rc == 35, r.stderr  # TLS handshake failed: no certificate shown
    res = web.run("openssl s_client -connect 127.0.0.1:443 -noservername </dev/null")
    assert res.rc != 0 and "BEGIN CERTIFICATE" not in res.stdout


def test_unknown_host_on_a_served_names_connection_gets_421(web):
    # What HTTP/2 connection reuse can send: TLS for trader.example.com, another Host.
    r = curl(web, f"{TRADER}/", "-H", "Host: unknown.example.net", "--http1.1")
    assert r.status == 421


@pytest.mark.parametrize("name", VARS["web_test_domains"])
def test_certificate_chains_to_pebble_for_the_right_name(web, name):
    res = web.run(f"openssl s_client -connect 127.0.0.1:443 -servername {name} -verify_return_error"
                  f" -CAfile {PEBBLE_ROOT} -verify_hostname {name} </dev/null")
    assert res.rc == 0, res.stderr
    assert "Verify return code: 0 (ok)" in res.stdout


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_old_tls_versions_are_refused(web, version):
    # SECLEVEL=0 lets the client offer the old version: the refusal must come from nginx.
    cmd = "openssl s_client -connect 127.0.0.1:443 -servername trader.example.com -cipher DEFAULT@SECLEVEL=0 {} </dev/null"
    assert web.run(cmd.format("-tls1_2")).rc == 0
    res = web.run(cmd.format(version))
    assert res.rc != 0
    assert "BEGIN CERTIFICATE" not in res.stdout


# --- certbot: renewal and hooks ----------------------------------------------

def test_certbot_renew_dry_run_succeeds(web):
    res = web.run(f"REQUESTS_CA_BUNDLE=/etc/pebble/ca.pem certbot renew --dry-run --server {PEBBLE_DIR}"
                  " --no-random-sleep-on-renew --non-interactive")
    assert res.rc == 0, res.stdout + res.stderr
    assert "all simulated renewals succeeded" in (res.stdout + res.stderr).lower()


def test_renewal_uses_the_distro_timer_and_a_validating_deploy_hook(web):
    assert web.service("certbot.timer").is_enabled
    assert web.service("certbot.timer").is_running
    hook = web.file("/etc/letsencrypt/renewal-hooks/deploy/50-tradeops-reload")
    assert hook.mode == 0o755 and hook.user == "root"
    assert "nginx -t -q && systemctl reload nginx" in hook.content_string
    web.run_expect([0], hook.path)  # what certbot runs after a renewal


def test_served_certificates_are_the_issued_ones(web):
    for site in ("trader", "office", "locked"):
        for name in ("fullchain.pem", "privkey.pem"):
            link = web.check_output(f"readlink /etc/nginx/tradeops/tls/{site}/{name}")
            assert link == f"/etc/letsencrypt/live/{site}/{name}"


# --- files on the host -------------------------------------------------------

def test_htpasswd_is_bcrypt_readable_by_nginx_only_and_holds_no_plaintext(web):
    f = web.file("/etc/nginx/htpasswd-trader")
    assert (f.user, f.group, f.mode) == ("root", "www-data", 0o640)
    lines = f.content_string.splitlines()
    assert len(lines) == 1 and re.match(r"^trader:\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$", lines[0]), lines
    assert PASSWORD not in f.content_string


def test_nginx_config_is_valid_without_warnings(web):
    res = web.run("nginx -t")
    assert res.rc == 0, res.stderr
    assert "warn" not in res.stderr


def test_upstream_files_have_the_deploy_contract_format(web):
    """The block is the role's (keepalive from nginx_upstream_keepalive); the server line, in
    its own file, is the deploy's."""
    content = web.file("/etc/nginx/tradeops/upstreams/trader.conf").content_string
    body = re.sub(r"#.*", "", content)
    assert re.fullmatch(r"\s*upstream tradeops_trader \{\s*include tradeops/upstreams/trader\.server;\s*keepalive 16;\s*\}\s*",
                        body), content
    server = web.file("/etc/nginx/tradeops/upstreams/trader.server")
    assert server.content_string == "server 127.0.0.1:3081;\n"
    assert (server.user, server.group, server.mode) == ("root", "root", 0o644)
    assert "proxy_pass http://tradeops_trader;" in web.file("/etc/nginx/tradeops/sites/trader.conf").content_string


# --- bad input: refused before nginx is touched ------------------------------

def _sites(**changes: dict) -> list[dict]:
    """molecule/web/vars/web.yml's sites with some keys of some sites replaced (None removes a key)."""
    sites = copy.deepcopy(VARS["nginx_sites"])
    for site in sites:
        for key, value in changes.get(site["name"], {}).items():
            if value is None:
                site.pop(key, None)
            else:
                site[key] = value
    return sites


BAD_INPUTS = {
    "invalid-domain": (_sites(trader={"server_names": ["trader.example.com", "bad_domain!.com"]}),
                       'nginx_sites[0].server_names (trader) must be a non-empty list of lower-case domain names'),
    "missing-password": (_sites(trader={"basic_auth": {"enabled": True, "users": [{"name": "trader", "password": ""}]}}),
                         'nginx_sites[0].basic_auth (trader) is enabled, so it needs at least one user'),
    "shared-upstream-port": (_sites(office={"upstream_port": 3081}),
                             "nginx_sites[].upstream_port: port(s) [3081] are used by more than one site"),
    "proxied-location-without-upstream": (_sites(trader={"upstream_port": None}),
                                          "nginx_sites[0].proxied_locations (trader): every proxied location needs an upstream"),
    # A quote or a $ would be nginx syntax or a variable in the rendered location/proxy_pass.
    "proxied-path-with-nginx-syntax": (_sites(trader={"proxied_locations": [{"path": '/api/"x/', "upstream_path": "/api/$host"}]}),
                                       'both may hold only letters, digits and . _ ~ % @ : + - /'),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_before_nginx_is_touched(case, web, inventory):
    sites, message = BAD_INPUTS[case]
    before = nginx_state(web)
    res = run_playbook(inventory, CONVERGE, "-e", json.dumps({"nginx_sites": sites}))
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert message in re.sub(r"\s+", " ", out), out[-3000:]
    assert "Nothing was changed" in out
    assert "changed=0" in out
    assert PASSWORD not in out
    assert nginx_state(web) == before


# --- the deploy switch survives re-runs; a broken template changes nothing ----

def _api_port(web) -> int:
    return json.loads(curl(web, f"{TRADER}/api/health").body)["port"]


def _switch_upstream(web, port: int) -> None:
    """What a deploy does: rewrite the site's upstream file, validate, reload, wait for the new workers.

    `systemctl reload` returns before nginx's old workers are gone: a request right after
    it may still reach the old upstream, so a deploy health-checks until the new one answers.
    """
    web.run_expect([0], f"printf 'server 127.0.0.1:{port};\\n' > /tmp/trader.server"
                        " && tradeops-nginx-check tradeops/upstreams/trader.server /tmp/trader.server"
                        " && mv /tmp/trader.server /etc/nginx/tradeops/upstreams/trader.server"
                        " && systemctl reload nginx")
    deadline = time.monotonic() + 10
    while _api_port(web) != port and time.monotonic() < deadline:
        time.sleep(0.2)


def test_rerun_keeps_a_deployed_upstream_and_an_invalid_template_leaves_the_old_config_serving(web, inventory):
    _switch_upstream(web, 3082)
    try:
        assert _api_port(web) == 3082
        site_conf = "/etc/nginx/tradeops/sites/trader.conf"
        before = hashlib.sha256(web.file(site_conf).content).hexdigest()

        sites = _sites(trader={"extra_directives": "this_is_not_a_directive on;"})
        res = run_playbook(inventory, CONVERGE, "-e", json.dumps({"nginx_sites": sites}))
        out = res.stdout + res.stderr
        assert res.returncode != 0
        assert 'unknown directive "this_is_not_a_directive"' in out, out[-3000:]
        assert PASSWORD not in out

        # The old configuration still serves, unchanged, and the deploy's upstream was kept.
        assert hashlib.sha256(web.file(site_conf).content).hexdigest() == before
        assert "this_is_not_a_directive" not in web.check_output("grep -r this_is_not /etc/nginx || true")
        assert curl(web, f"{TRADER}/").status == 401
        assert curl(web, f"{TRADER}/", "-u", f"trader:{PASSWORD}").status == 200
        assert _api_port(web) == 3082
        assert web.file("/etc/nginx/tradeops/upstreams/trader.server").content_string == "server 127.0.0.1:3082;\n"
    finally:
        _switch_upstream(web, 3081)
    assert _api_port(web) == 3081


def test_a_changed_keepalive_reaches_the_upstream_and_an_older_upstream_keeps_its_live_port(web, inventory):
    """The block is rendered on every run, so nginx_upstream_keepalive changes apply; a host
    whose upstream predates the .server split (the whole block in trader.conf, live on 3082)
    keeps 3082 when the role takes the block over."""
    upstreams = "/etc/nginx/tradeops/upstreams"
    web.run_expect([0], f"rm {upstreams}/trader.server && printf 'upstream tradeops_trader {{\\n"
                        f"    server 127.0.0.1:3082;\\n    keepalive 16;\\n}}\\n' > {upstreams}/trader.conf"
                        " && nginx -t -q && systemctl reload nginx")
    try:
        res = run_playbook(inventory, CONVERGE, "-e", "nginx_upstream_keepalive=4")
        assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
        block = web.file(f"{upstreams}/trader.conf").content_string
        assert "keepalive 4;" in block and "include tradeops/upstreams/trader.server;" in block, block
        assert web.file(f"{upstreams}/trader.server").content_string == "server 127.0.0.1:3082;\n"
        deadline = time.monotonic() + 10
        while _api_port(web) != 3082 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _api_port(web) == 3082
    finally:
        res = run_playbook(inventory, CONVERGE)
        _switch_upstream(web, 3081)
    assert res.returncode == 0 and "keepalive 16;" in web.file(f"{upstreams}/trader.conf").content_string
    assert _api_port(web) == 3081
