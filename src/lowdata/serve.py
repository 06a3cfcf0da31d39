"""A prediction server: FastAPI + uvicorn, with dynamic micro-batching.

    lowdata serve --model runs/sst2/model --host 127.0.0.1 --port 8000        # --onnx: an exported folder
    curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"texts": ["a fine film"]}'

POST /predict  {"texts": [...]} (classifier) or {"tokens": [[...], ...]} (tagger) -> {"predictions": [...]}, the
               records of `lowdata predict` (pred, confidence / per-token tags), in request order
GET  /health   {"status": "ok"}            GET /metadata   task, labels, max_length, backend, limits

Requests that arrive within `max_wait_ms` of each other are predicted together, up to `max_batch` texts (one model
call per batch, in one worker thread, so the event loop keeps accepting). Limits: `max_texts` per request,
`max_chars` per text, `max_body` bytes per request (413 before the body is read past it); anything malformed gets a
4xx with a message (422: wrong JSON or fields, 413: too large, 404/405: wrong path or method) and the server stays
up. SIGINT/SIGTERM: uvicorn stops accepting, lets requests in flight finish (up to 10 s), then the batcher stops.
"""

import asyncio
import json
import os
import time


class MicroBatcher:
    """Collects requests for up to max_wait seconds or max_batch items, then runs `predict(items)` in a thread."""

    def __init__(self, predict, max_batch: int = 32, max_wait: float = 0.005):
        self.predict, self.max_batch, self.max_wait = predict, max_batch, max_wait
        self.queue: asyncio.Queue | None = None
        self.task = None
        self.batches = self.items = 0

    async def start(self):
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def stop(self):
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass

    async def submit(self, items: list):
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put((items, fut))
        return await fut

    async def _run(self):
        loop = asyncio.get_running_loop()
        while True:
            reqs = [await self.queue.get()]
            n, deadline = len(reqs[0][0]), loop.time() + self.max_wait
            while n < self.max_batch:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    r = await asyncio.wait_for(self.queue.get(), left)
                except asyncio.TimeoutError:
                    break
                reqs.append(r)
                n += len(r[0])
            items = [x for r, _ in reqs for x in r]
            try:
                out = await loop.run_in_executor(None, self.predict, items)
            except Exception as e:  # a bug in prediction: every waiting request gets a 500, the server stays up
                for _, fut in reqs:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            self.batches, self.items = self.batches + 1, self.items + len(items)
            s = 0
            for r, fut in reqs:
                if not fut.done():  # a client that went away
                    fut.set_result(out[s: s + len(r)])
                s += len(r)


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets 413 without being read further."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await _reply(send, 413, f"request body over {self.limit} bytes" if length.isdigit()
                                else "bad content-length")
        if length is not None:
            return await self.app(scope, receive, send)
        body, more = b"", True  # no content-length (chunked): read up to the limit here, then replay it
        while more:
            msg = await receive()
            if msg["type"] != "http.request":
                return
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
            if len(body) > self.limit:
                return await _reply(send, 413, f"request body over {self.limit} bytes")
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _reply(send, status: int, message: str):
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def build_app(model, tok, meta, backend: str = "torch", max_batch: int = 32, max_wait_ms: float = 5.0,
              max_texts: int = 256, max_chars: int = 10000, max_body: int = 2_000_000):
    """The ASGI app (FastAPI) around a loaded model; `lowdata serve` runs it with uvicorn."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, HTTPException
    from pydantic import BaseModel, ConfigDict, Field, StrictStr

    from .data import LabelMap, TextData, TokenData
    from .evaluate.decode import model_decode
    from .evaluate.report import evaluate_split

    labels, task = LabelMap(meta["labels"]), meta["task"]
    decode = model_decode(meta) if task == "ner" else "argmax"

    def predict(items):
        data = TextData(items, source="<request>") if task == "classify" else TokenData(items, source="<request>")
        return evaluate_split(model, tok, data, labels, meta["max_length"], max_batch,
                              multilabel=meta if meta.get("multilabel") else None, decode=decode)[1]

    batcher = MicroBatcher(predict, max_batch, max_wait_ms / 1000)

    @asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        yield
        await batcher.stop()

    class Request(BaseModel):
        model_config = ConfigDict(extra="forbid")
        texts: list[StrictStr] | None = Field(None, max_length=max_texts)
        tokens: list[list[StrictStr]] | None = Field(None, max_length=max_texts)

    app = FastAPI(title="lowdata", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    started = time.time()

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/metadata")
    async def metadata():
        return {"task": task, "multilabel": bool(meta.get("multilabel")), "labels": labels.names,
                "max_length": meta["max_length"], "backend": backend,
                "input": "texts" if task == "classify" else "tokens", "uptime_s": round(time.time() - started, 1),
                "batches": batcher.batches, "predicted": batcher.items,
                "limits": {"max_texts": max_texts, "max_chars": max_chars, "max_body": max_body,
                           "max_batch": max_batch, "max_wait_ms": max_wait_ms}}

    @app.post("/predict")
    async def predict_route(req: Request):
        want = "texts" if task == "classify" else "tokens"
        items = req.texts if task == "classify" else req.tokens
        other = req.tokens if task == "classify" else req.texts
        if other is not None:
            raise HTTPException(422, f"this model is a {'classifier' if task == 'classify' else 'tagger'}: send "
                                     f"{want!r}, not {'tokens' if want == 'texts' else 'texts'!r}")
        if not items:
            raise HTTPException(422, f"{want!r}: expected a non-empty list")
        for i, x in enumerate(items):
            size = len(x) if task == "classify" else sum(len(w) for w in x)
            if (len(x.strip()) if task == "classify" else len(x)) == 0:
                raise HTTPException(422, f"{want}[{i}]: empty")
            if task == "ner" and any(not w.strip() or any(c.isspace() for c in w) for w in x):
                raise HTTPException(422, f"tokens[{i}]: a token is empty or holds whitespace")
            if size > max_chars:
                raise HTTPException(413, f"{want}[{i}]: {size} characters (at most {max_chars})")
        recs = await batcher.submit([x.strip() for x in items] if task == "classify" else items)
        return {"predictions": recs}

    return BodyLimit(app, max_body)


def serve(model_dir: str, host: str = "127.0.0.1", port: int = 8000, onnx: bool = False, int8: bool = False,
          **limits) -> None:
    import uvicorn

    from .predict import load_predictor

    model, tok, meta = load_predictor(model_dir, onnx, int8)
    backend = "onnxruntime" if type(model).__name__ == "OnnxModel" else "torch"
    app = build_app(model, tok, meta, backend, **limits)
    print(f"lowdata serve: {os.path.abspath(model_dir)} ({meta['task']}, {backend}) on http://{host}:{port}",
          flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)
