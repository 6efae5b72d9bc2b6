"""TEST DOUBLES: an embedding server and a rerank server (no bge-m3 or reranker can be served here).

Real HTTP servers (FastAPI on uvicorn, loopback, free port, in a thread) speaking the real protocols,
both wrapping the shipped e5-small (`index.build.dense.Encoder.encode_raw`: the text exactly as sent,
as a server hosting the model would embed it):

    EmbeddingServerDouble   POST /v1/embeddings  {"model", "input": str | [str], "encoding_format"}
                            -> {"object": "list", "data": [{"object": "embedding", "index", "embedding"}], ...}
    RerankServerDouble      POST /v1/rerank      {"model", "query", "documents": [str], "top_n"}
                            -> {"results": [{"index", "relevance_score"}]}  (score: e5 similarity of
                               "query: " + query and "passage: " + document, best first)

Misbehaviours on demand (`double.mode`): "normal"; "error500" (HTTP 500); "stall" (no answer for
`stall_s` seconds); embeddings: "wrong_dim" (one dimension short), "short" (one vector fewer than texts
sent); rerank: "missing_index" (results without "index"), "bad_index" (the best result's index one past the end). `fail_after = n` answers n requests, then
HTTP 500 (a server dying mid-build); `fail_first = n` answers HTTP 503 n times, then normally (a flaky one).
Each double records the requests it was sent in `requests`.

Used by tests/test_embed_rerank.py and `python -m eval embed-parity`.
Standalone: python -m eval.model_doubles --port 8200   (both servers on one port, base URL .../v1)
"""
from __future__ import annotations

import argparse
import asyncio
import socket
import threading
import time

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class _Double:
    """Shared: a uvicorn server in a daemon thread, fault modes, a log of requests."""

    name = "double"

    def __init__(self, encoder, port: int = 0):
        self.encoder = encoder
        self.port = port or free_port()
        self.mode = "normal"
        self.stall_s = 30.0
        self.fail_after: int | None = None
        self.fail_first = 0
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self.app = FastAPI(title=f"TEST DOUBLE: {self.name}")
        self._routes(self.app)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _routes(self, app: FastAPI) -> None:
        raise NotImplementedError

    async def _fault(self, body: dict) -> JSONResponse | None:
        """Record the request; the response a misbehaving server gives, or None to answer normally."""
        with self._lock:
            self.requests.append(body)
            n = len(self.requests)
        if self.fail_first > 0:
            self.fail_first -= 1
            return JSONResponse({"error": {"message": "double: overloaded, try again"}}, 503)
        if self.mode == "error500" or (self.fail_after is not None and n > self.fail_after):
            return JSONResponse({"error": {"message": "double: internal failure", "type": "server_error"}}, 500)
        if self.mode == "stall":
            await asyncio.sleep(self.stall_s)
        return None

    def start(self):
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name=self.name)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)

    def reset(self) -> None:
        self.mode, self.fail_after, self.fail_first = "normal", None, 0
        self.requests.clear()


class EmbeddingServerDouble(_Double):
    name = "embedding server double"

    def _routes(self, app: FastAPI) -> None:
        double = self

        @app.post("/v1/embeddings")
        async def embeddings(request: Request):
            body = await request.json()
            fault = await double._fault(body)
            if fault is not None:
                return fault
            texts = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
            vectors = await asyncio.to_thread(double.encoder.encode_raw, texts)
            if double.mode == "wrong_dim":
                vectors = vectors[:, :-1]
            if double.mode == "short":
                vectors = vectors[:-1]
            data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
            data.reverse()  # servers need not answer in order: clients sort by index
            tokens = sum(len(t) for t in texts)
            return {"object": "list", "data": data, "model": body.get("model"),
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


class RerankServerDouble(_Double):
    name = "rerank server double"

    def scores(self, query: str, documents: list[str]) -> np.ndarray:
        q = self.encoder.encode_raw(["query: " + query])[0]
        return self.encoder.encode_raw(["passage: " + d for d in documents]) @ q

    def _routes(self, app: FastAPI) -> None:
        double = self

        @app.post("/v1/rerank")
        async def rerank(request: Request):
            body = await request.json()
            fault = await double._fault(body)
            if fault is not None:
                return fault
            scores = await asyncio.to_thread(double.scores, body["query"], body["documents"])
            order = np.argsort(-scores, kind="stable")[: int(body.get("top_n") or len(scores))]
            results = [{"index": int(i), "relevance_score": float(scores[i]), "document": None} for i in order]
            if double.mode == "missing_index":
                results = [{"relevance_score": r["relevance_score"]} for r in results]
            if double.mode == "bad_index":
                results[0]["index"] = len(scores)
            return {"id": "double", "model": body.get("model"), "results": results,
                    "usage": {"total_tokens": sum(len(d) for d in body["documents"])}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    from index.build.dense import Encoder
    from index.config import Settings

    parser = argparse.ArgumentParser(description="TEST DOUBLES: embedding and rerank servers wrapping e5-small")
    parser.add_argument("--port", type=int, default=8200)
    args = parser.parse_args()
    encoder = Encoder(Settings().model_dir)
    both = FastAPI(title="TEST DOUBLES: embeddings + rerank")
    EmbeddingServerDouble(encoder, port=1)._routes(both)
    RerankServerDouble(encoder, port=1)._routes(both)
    print(f"embeddings and rerank at http://127.0.0.1:{args.port}/v1 (TEST DOUBLES wrapping e5-small)")
    uvicorn.run(both, host="127.0.0.1", port=args.port, log_level="warning")
