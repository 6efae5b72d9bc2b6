"""Client for an OpenAI-compatible LLM server (Ollama, vLLM, llama.cpp, DeepSeek, ...), optional.

Configured by environment variables; without POLICYQA_LLM_BASE_URL and POLICYQA_LLM_MODEL
there is no LLM and the service answers extractively. The official `openai` SDK (async) does
the talking; this module adds what the service needs around it:

- no retries (max_retries=0): a retry would double the wait of a user already waiting;
- a timeout per read and a total deadline per call, so a stalled server cannot hold a request;
- a semaphore capping concurrent calls, so a burst of chats cannot flood a small LLM server;
- every failure turned into LLMError with a plain sentence (the chat then answers extractively).

The prompts live in index/generate/prompts/*.md, one readable file each.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from index.config import Settings

log = logging.getLogger("policyqa")

PROMPTS = Path(__file__).resolve().parent / "prompts"
_SECTION = re.compile(r"^## (system|user)\s*$", re.M)


class LLMError(Exception):
    """The LLM could not give an answer; the message says why in plain words."""


@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    model: str
    api_key: str = ""
    timeout_s: float = 30.0  # longest silence while waiting for the next bytes
    total_timeout_s: float = 120.0  # longest a whole answer may take
    max_concurrent: int = 4
    max_tokens: int = 800

    @classmethod
    def from_settings(cls, e: Settings) -> "LLMConfig | None":
        """None when no LLM is configured (both URL and model are needed)."""
        base_url = e.llm_base_url.strip()
        model = e.llm_model.strip()
        if not base_url or not model:
            return None
        return cls(
            base_url=base_url.rstrip("/"),
            model=model,
            api_key=e.llm_api_key,
            timeout_s=_positive("POLICYQA_LLM_TIMEOUT", e.llm_timeout, 30.0),
            total_timeout_s=_positive("POLICYQA_LLM_TOTAL_TIMEOUT", e.llm_total_timeout, 120.0),
            max_concurrent=int(_positive("POLICYQA_LLM_CONCURRENCY", e.llm_concurrency, 4)),
            max_tokens=int(_positive("POLICYQA_LLM_MAX_TOKENS", e.llm_max_tokens, 800)),
        )


def _positive(name: str, raw: str, default: float) -> float:
    raw = raw.strip()
    try:
        value = float(raw) if raw else default
    except ValueError as err:
        raise RuntimeError(f"{name}={raw!r} is not a number") from err
    if value <= 0:
        raise RuntimeError(f"{name} must be positive, not {raw!r}")
    return value


def load_prompt(name: str) -> tuple[str, str]:
    """(system, user) templates of index/generate/prompts/<name>.md."""
    text = (PROMPTS / f"{name}.md").read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    sections = dict(zip(parts[1::2], (p.strip() for p in parts[2::2])))
    return sections["system"], sections["user"]


def fill(template: str, **values: str) -> str:
    """Fill {name} placeholders in one pass: text put in is never scanned again, so a document
    that contains "{question}" keeps it as written. Not str.format: passages may contain braces."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), template)


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def quoted(text: str) -> str:
    """Text as quoted data: every line starts with "> ", so nothing in it can pass for the
    prompt's own words (a fake "[2]" heading or "Question:" line stays inside the quote)."""
    return "\n".join("> " + line for line in text.strip().splitlines())


def format_passages(passages) -> str:
    """[n] title · section, then the text quoted; n is the passage's rank, as the answer must cite it."""
    blocks = []
    for n, p in enumerate(passages, 1):
        head = f"[{n}] {_one_line(p.title)}" + (f" · {_one_line(p.section)}" if p.section else "")
        blocks.append(f"{head}\n{quoted(p.text)}")
    return "\n\n".join(blocks)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def public_url(url: str) -> str:
    """A URL for the log: without any user:password@ in it."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def format_conversation(history: list[dict]) -> str:
    lines = [f"{'用户 User' if m['role'] == 'user' else '助手 Assistant'}: {m['content'].strip()}" for m in history]
    return "\n".join(lines) if lines else "(无 none)"


class LLM:
    def __init__(self, config: LLMConfig):
        from openai import AsyncOpenAI, Timeout  # imported here so a service without an LLM never loads it

        self.config = config
        self.client = AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key or "none",  # local servers take any key; the SDK insists on one
            timeout=Timeout(config.timeout_s, connect=min(5.0, config.timeout_s)),
            max_retries=0,
        )
        self._slots = asyncio.Semaphore(config.max_concurrent)
        self._answer_prompt = load_prompt("answer")
        self._rewrite_prompt = load_prompt("rewrite")

    @property
    def model(self) -> str:
        return self.config.model

    def answer_messages(self, question: str, history: list[dict], passages) -> list[dict]:
        system, user = self._answer_prompt
        return [{"role": "system", "content": system},
                {"role": "user", "content": fill(user, passages=format_passages(passages),
                                                 conversation=format_conversation(history), question=question)}]

    def rewrite_messages(self, question: str, history: list[dict]) -> list[dict]:
        system, user = self._rewrite_prompt
        return [{"role": "system", "content": system},
                {"role": "user", "content": fill(user, conversation=format_conversation(history), question=question)}]

    async def stream(self, messages: list[dict], max_tokens: int | None = None) -> AsyncIterator[str]:
        """The answer's text as it arrives. Raises LLMError; a cancelled caller closes the
        upstream connection (the LLM server sees the request go away and can stop generating)."""
        cfg = self.config
        stream = None
        received = False
        try:
            async with asyncio.timeout(cfg.total_timeout_s):
                async with self._slots:
                    stream = await self.client.chat.completions.create(
                        model=cfg.model, messages=messages, stream=True, temperature=0.1,
                        max_tokens=max_tokens or cfg.max_tokens)
                    async for chunk in stream:
                        if not chunk.choices:
                            continue
                        text = chunk.choices[0].delta.content if chunk.choices[0].delta else None
                        if text:
                            received = True
                            yield text
        except TimeoutError as err:
            raise LLMError(f"the LLM did not finish within {cfg.total_timeout_s:g} s") from err
        except asyncio.CancelledError:
            raise
        except LLMError:
            raise
        except Exception as err:  # noqa: BLE001 - any failure of the upstream becomes a plain message
            # the details for the operator; the client gets describe()'s sentence, which names no URL
            log.warning("LLM call to %s (%s) failed: %s: %s", public_url(cfg.base_url), cfg.model,
                        type(err).__name__, str(err)[:500])
            raise LLMError(describe(err, cfg)) from err
        finally:
            if stream is not None:
                # Shielded: when the caller was cancelled (the user went away) the close must
                # still happen, so the LLM server sees the request end and stops generating.
                import anyio

                with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                    await stream.close()
        if not received:
            raise LLMError("the LLM returned an empty answer")

    async def complete(self, messages: list[dict], max_tokens: int = 200) -> str:
        """The whole reply at once (used for rewriting follow-up questions)."""
        parts = [t async for t in self.stream(messages, max_tokens=max_tokens)]
        return "".join(parts)

    async def close(self) -> None:
        await self.client.close()


def describe(err: Exception, cfg: LLMConfig) -> str:
    """A failure of the upstream call in words a user understands: the kind of failure only,
    never the LLM's address, its error text or an exception's message (those go to the log)."""
    import json

    import openai

    if isinstance(err, openai.APITimeoutError):
        return f"the LLM did not answer within {cfg.timeout_s:g} s"
    if isinstance(err, openai.APIConnectionError):
        cause = err.__cause__ or err.__context__
        said = f"{type(cause).__name__} {cause}".lower() if cause is not None else ""
        if any(w in said for w in ("incomplete", "closed", "remoteprotocol", "peer")):
            return "the LLM closed the connection before finishing its answer"
        return "could not reach the LLM"
    if isinstance(err, openai.APIStatusError):
        return f"the LLM answered with an error (HTTP {err.status_code})"
    if isinstance(err, (json.JSONDecodeError, ValueError, KeyError, TypeError, AttributeError)):
        return "the LLM sent a response that could not be read"
    if isinstance(err, openai.APIError):
        return "the LLM reported an error"
    return "the LLM call failed"
