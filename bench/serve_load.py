"""lowdata serve under load on loopback (issue 24): requests/s and latency at 1, 8 and 32 concurrent clients, errors,
malformed requests, and server memory over a soak.

    python bench/serve_load.py --model runs/bench-deploy/agnews-minilm/model --seconds 60 --soak 600

Each client is a thread holding one keep-alive connection and sending POST /predict with one AG News test text (a
real-length request), back to back. The server (`lowdata serve`, a separate process, default limits) and the
clients share the machine's cores, so the figures are what one 2-core box serves to itself. Memory: the server's
resident set (VmRSS) every 10 s of the soak; "flat" is judged by the growth between the soak's second and last
minute. Only loopback (127.0.0.1) is ever contacted; every loop is bounded in time.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import DATA, RESULTS, ROOT, load_results, machine, save_results  # noqa: E402

OUT = RESULTS / "serve_load.json"

BAD = [(b"{not json", {}), (b'["a"]', {}), (b"{}", {}), (b'{"texts": "s"}', {}), (b'{"texts": [1]}', {}),
       (b'{"texts": [null]}', {}), (b'{"texts": []}', {}), (b'{"texts": [""]}', {}), (b'{"texts": ["  "]}', {}),
       (json.dumps({"texts": ["a"] * 257}).encode(), {}), (json.dumps({"texts": ["a" * 10001]}).encode(), {}),
       (b'{"texts": ["a"], "x": 1}', {}), (b'{"tokens": [["a"]]}', {}), (b'{"texts": [{"a": 1}]}', {}),
       (b'{"texts": {"a": "b"}}', {}), (b"", {}), (b'{"texts": ["\xff"]}', {}),
       (b'{"texts": ["a"]}', {"content-type": "text/plain"}), (b"x" * 2_000_001, {}),
       (b'{"texts": ["a"]}', {"content-length": "12x"})]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1]) / 1024
    return float("nan")


def load(port: int, texts: list, clients: int, seconds: float) -> dict:
    stop = time.time() + seconds
    lat, errors, lock = [], [0], threading.Lock()

    def client(i):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        j = i
        mine = []
        while time.time() < stop:
            body = json.dumps({"texts": [texts[j % len(texts)]]})
            t0 = time.perf_counter()
            try:
                c.request("POST", "/predict", body=body, headers={"content-type": "application/json"})
                r = c.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            if ok:
                mine.append(time.perf_counter() - t0)
            else:
                with lock:
                    errors[0] += 1
            j += clients
        with lock:
            lat.extend(mine)
        c.close()

    t0 = time.time()
    ts = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.time() - t0
    a = np.array(lat) * 1000
    return {"clients": clients, "seconds": wall, "requests": len(lat), "errors": errors[0],
            "requests_per_s": len(lat) / wall, "p50_ms": float(np.percentile(a, 50)) if len(a) else None,
            "p99_ms": float(np.percentile(a, 99)) if len(a) else None}


def malformed(port: int) -> dict:
    out = []
    for body, headers in BAD:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            c.request("POST", "/predict", body=body, headers={"content-type": "application/json", **headers})
            status = c.getresponse().status
        except (OSError, http.client.HTTPException) as e:
            status = f"connection: {type(e).__name__}"
        c.close()
        out.append(status)
    for method, path in (("GET", "/predict"), ("POST", "/nowhere")):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request(method, path, body=b"{}" if method == "POST" else None)
        out.append(c.getresponse().status)
        c.close()
    return {"kinds": len(out), "statuses": out, "all_4xx": all(isinstance(s, int) and 400 <= s < 500 for s in out)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(ROOT / "runs" / "bench-deploy" / "agnews-minilm" / "model"))
    p.add_argument("--onnx", action="store_true")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--soak", type=float, default=600)
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    a = p.parse_args()
    from lowdata.data import read

    texts = read(str(DATA / "agnews/test.tsv"), format="tsv", task="classify").texts[:2000]
    port = _port()
    srv = subprocess.Popen([sys.executable, "-m", "lowdata.cli", "serve", "--model", a.model, "--port", str(port)]
                           + (["--onnx"] if a.onnx else []), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(1200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        res = {"model": a.model, "backend": "onnx" if a.onnx else "torch", "machine": machine(),
               "commit": os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip(), "load": []}
        load(port, texts, 4, 5)  # warm-up
        for n in a.clients:
            r = load(port, texts, n, a.seconds)
            res["load"].append(r)
            print(r, flush=True)
        res["malformed"] = malformed(port)
        print(res["malformed"], flush=True)
        res["health_after_malformed"] = load(port, texts, 1, 2)["errors"] == 0
        if a.soak:
            samples, stop = [], time.time() + a.soak
            th = threading.Thread(target=lambda: res.__setitem__("soak_load", load(port, texts, 8, a.soak)))
            th.start()
            while time.time() < stop:
                samples.append((round(a.soak - (stop - time.time())), rss_mb(srv.pid)))
                time.sleep(10)
            th.join()
            res["soak_rss_mb"] = samples
            minute2 = [m for t, m in samples if 60 <= t < 120]
            last = [m for t, m in samples if t >= a.soak - 60]
            res["soak_growth_mb"] = (float(np.mean(last)) - float(np.mean(minute2))) if minute2 and last else None
            print("soak", res["soak_load"], "rss growth (MB, minute 2 -> last minute)", res["soak_growth_mb"])
        key = "onnx" if a.onnx else "torch"
        allres = load_results(OUT)
        allres[key] = res
        save_results(OUT, allres)
    finally:
        srv.terminate()
        srv.wait(30)
    print(f"written {OUT}")


if __name__ == "__main__":
    main()
