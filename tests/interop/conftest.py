"""Starts a real `vine wbem serve --sample` for the interop tests.

The server listens on free loopback ports with a fresh state directory that
holds two users: `admin` (role admin) and `reader` (role reader).
"""
import os
import subprocess
import tempfile
import time

import pytest
import pywbem

# requests lets these override a connection's own CA choice; the tests pick
# their trust explicitly (the server's generated certificate).
for _var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(_var, None)

ADMIN_PW = "admin-password-1"
READER_PW = "reader-password-1"
SAMPLE_NS = "test/sample"


def vine_bin():
    path = os.environ.get("VINE_BIN")
    if not path or not os.path.exists(path):
        pytest.fail("VINE_BIN must point at a built vine binary (deploy/test.sh sets it)")
    return path


class Server:
    def __init__(self, proc, http_url, https_url, state_dir):
        self.proc = proc
        self.http_url = http_url
        self.https_url = https_url
        self.state_dir = state_dir

    @property
    def http_hostport(self):
        return self.http_url.split("//", 1)[1]

    def conn(self, user="admin", password=ADMIN_PW, namespace=SAMPLE_NS, url=None):
        return pywbem.WBEMConnection(
            url or self.http_url, (user, password), default_namespace=namespace,
            no_verification=True, timeout=30)

    def alive(self):
        return self.proc.poll() is None


def add_user(state_dir, name, role, password):
    subprocess.run(
        [vine_bin(), "user", "add", name, "--role", role, "--password-stdin", "--state-dir", state_dir],
        input=password + "\n", text=True, check=True, capture_output=True)


@pytest.fixture(scope="session")
def server():
    state = tempfile.mkdtemp(prefix="vine-interop-")
    add_user(state, "admin", "admin", ADMIN_PW)
    add_user(state, "reader", "reader", READER_PW)
    proc = subprocess.Popen(
        [vine_bin(), "wbem", "serve", "--sample", "--sample-items", "3",
         "--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--state-dir", state,
         "--max-body-bytes", "1048576", "--host-name", "vine-test"],
        stdout=subprocess.PIPE, stderr=None, text=True)
    urls = []
    deadline = time.time() + 60
    while len(urls) < 2 and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("wbem: "):
            urls.append(line.split(" ", 1)[1].strip())
    if len(urls) < 2:
        proc.kill()
        pytest.fail("vine wbem serve did not report its HTTP and HTTPS addresses")
    http_url = next(u for u in urls if u.startswith("http://"))
    https_url = next(u for u in urls if u.startswith("https://"))
    srv = Server(proc, http_url, https_url, state)
    yield srv
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("vine wbem serve did not stop within 15 s of SIGTERM")
