"""lowdata serve over real HTTP on loopback: valid requests under concurrency (answers in request order, batched
together), every kind of malformed request answered 4xx with the server still up, graceful shutdown."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from lowdata.backbone import TaskModel, load_encoder

from .conftest import save_random_model

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tiny_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("serve")
    save_random_model(tiny_model, d / "m")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lowdata.cli", "serve", "--model", str(d / "m"), "--port",
                             str(port), "--max-texts", "8", "--max-chars", "200", "--max-body", "4000",
                             "--max-wait-ms", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        try:
            if _req(port, "GET", "/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("server did not start: " + proc.stderr.read()[-2000:])
    yield port, proc, str(d / "m")
    if proc.poll() is None:
        proc.kill()


def _req(port, method, path, body=None, headers=None, raw=False):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    data = body if raw or body is None else json.dumps(body).encode()
    h = {"content-type": "application/json", **(headers or {})}
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    out = r.status, r.read()
    c.close()
    return out


def test_valid_requests_concurrently_match_lowdata_predict(served):
    from lowdata.data import LabelMap, TextData
    from lowdata.evaluate.report import evaluate_split

    port, _, path = served
    texts = [f"the movie {'good ' * (i % 5)}number {i}" for i in range(48)]
    with ThreadPoolExecutor(16) as ex:
        answers = list(ex.map(lambda t: _req(port, "POST", "/predict", {"texts": [t, t + " bad"]}), texts))
    assert all(s == 200 for s, _ in answers)
    model, tok, meta = TaskModel.load(path)
    flat = [x for t in texts for x in (t, t + " bad")]
    want = evaluate_split(model, tok, TextData(flat), LabelMap(meta["labels"]), 32)[1]
    got = [p for _, b in answers for p in json.loads(b)["predictions"]]
    assert [g["text"] for g in got] == flat  # each request's answers, in its order
    assert all(g["pred"] == w["pred"] and abs(g["confidence"] - w["confidence"]) < 1e-5 for g, w in zip(got, want))
    meta_now = json.loads(_req(port, "GET", "/metadata")[1])
    assert meta_now["predicted"] >= 96 and meta_now["batches"] < 48  # requests were batched together
    assert meta_now["labels"] == ["neg", "pos", "meh"] and meta_now["backend"] == "torch"


MALFORMED = [
    ("POST", "/predict", b"{not json", None, 422),
    ("POST", "/predict", b"[\"a\"]", None, 422),
    ("POST", "/predict", b"{}", None, 422),
    ("POST", "/predict", b'{"texts": "one string"}', None, 422),
    ("POST", "/predict", b'{"texts": [1, 2]}', None, 422),
    ("POST", "/predict", b'{"texts": [null]}', None, 422),
    ("POST", "/predict", b'{"texts": []}', None, 422),
    ("POST", "/predict", b'{"texts": [""]}', None, 422),
    ("POST", "/predict", b'{"texts": ["   "]}', None, 422),
    ("POST", "/predict", json.dumps({"texts": ["a"] * 9}).encode(), None, 422),  # over --max-texts 8
    ("POST", "/predict", json.dumps({"texts": ["a" * 201]}).encode(), None, 413),  # over --max-chars 200
    ("POST", "/predict", json.dumps({"texts": ["a " * 1000]}).encode(), None, 413),  # body over --max-body 4000
    ("POST", "/predict", b'{"texts": ["a"], "extra": 1}', None, 422),
    ("POST", "/predict", b'{"tokens": [["a"]]}', None, 422),  # a tagger's input to a classifier
    ("GET", "/predict", None, None, 405),
    ("POST", "/nothing", b"{}", None, 404),
    ("POST", "/predict", b'{"texts": ["a"]}', {"content-length": "abc"}, 400),  # uvicorn's own answer
    ("POST", "/predict", b'{"texts": [{"a": 1}]}', None, 422),
    ("POST", "/predict", b'{"texts": {"a": "b"}}', None, 422),
    ("POST", "/predict", b"", None, 422),
    ("POST", "/predict", b'{"texts": ["\xff\xfe"]}', None, 400),  # not UTF-8: FastAPI cannot parse it
    ("POST", "/predict", b'{"texts": ["a"]}', {"content-type": "text/plain"}, 422),
]


@pytest.mark.parametrize("method,path,body,headers,status", MALFORMED)
def test_malformed_request_gets_4xx_and_server_stays_up(served, method, path, body, headers, status):
    port, proc, _ = served
    try:
        got, text = _req(port, method, path, body, headers, raw=True)
    except (ConnectionError, http.client.HTTPException):  # the server may close a connection with a bad header
        got, text = 400, b"{}"
    assert got == status and 400 <= got < 500, text
    if got != 400:  # lowdata's and FastAPI's answers say what was wrong
        assert json.loads(text)["detail"]
    assert _req(port, "POST", "/predict", {"texts": ["still up"]})[0] == 200 and proc.poll() is None


def test_body_over_limit_without_content_length_is_refused(served):
    """A chunked body (no content-length) is counted as it arrives: 413 past --max-body."""
    port, proc, _ = served
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    chunks = iter([b'{"texts": ["', b"a" * 3000, b"b" * 3000, b'"]}'])
    c.request("POST", "/predict", body=chunks, headers={"content-type": "application/json"}, encode_chunked=True)
    r = c.getresponse()
    assert r.status == 413
    assert _req(port, "GET", "/health")[0] == 200 and proc.poll() is None


def test_graceful_shutdown(served):
    port, proc, _ = served
    with ThreadPoolExecutor(4) as ex:
        futs = [ex.submit(_req, port, "POST", "/predict", {"texts": ["x"] * 8}) for _ in range(4)]
        time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        done = [f.result()[0] for f in futs if not f.exception()]
    assert proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down cleanly
    assert all(s == 200 for s in done)  # requests accepted before the signal were answered


def test_tagger_server(tiny_model, tmp_path):
    from fastapi.testclient import TestClient

    from lowdata.serve import build_app

    path = save_random_model(tiny_model, tmp_path / "t", "ner", ["O", "B-X", "I-X"])[0]
    model, tok, meta = TaskModel.load(path)
    with TestClient(build_app(model, tok, meta)) as c:
        r = c.post("/predict", json={"tokens": [["john", "lives", "in", "oslo"], ["hi"]]})
        assert r.status_code == 200
        preds = r.json()["predictions"]
        assert [len(p["pred"]) for p in preds] == [4, 1] and all(t in ("O", "B-X", "I-X") for t in preds[0]["pred"])
        assert c.post("/predict", json={"texts": ["a"]}).status_code == 422
        assert c.post("/predict", json={"tokens": [["a b"]]}).status_code == 422
        assert c.post("/predict", json={"tokens": [[]]}).status_code == 422
