"""Optional LLM labels over any OpenAI-compatible chat endpoint (never called by the tests).

Configured by environment: ATLAS_LABELER_BASE_URL (e.g. http://localhost:8000/v1),
ATLAS_LABELER_MODEL, ATLAS_LABELER_API_KEY (optional). Each label records its labeler, model
and time (FeatureLabel provenance).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Mapping

from atlas.errors import ConfigError, InputError
from atlas.graphdb.labels import FeatureLabel

LLM_LABELER = "llm-chat-v1"
_SYSTEM = ("You name features of a language model. Given the tokens that activate a feature "
           "most, text around them, and the tokens it promotes, answer with a short label "
           "(at most 8 words) and nothing else.")


@dataclass(frozen=True)
class LabelerConfig:
    """Where the LLM labeler sends requests."""

    base_url: str
    """Base URL of the OpenAI-compatible API (…/v1)."""
    model: str
    """Model name sent in each request."""
    api_key: str | None = None
    """Bearer token, if the endpoint needs one."""
    timeout: float = 60.0
    """Seconds per request."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "LabelerConfig":
        env = os.environ if env is None else env
        url, model = env.get("ATLAS_LABELER_BASE_URL"), env.get("ATLAS_LABELER_MODEL")
        if not url or not model:
            raise ConfigError("the LLM labeler needs ATLAS_LABELER_BASE_URL and "
                              "ATLAS_LABELER_MODEL; set both (ATLAS_LABELER_API_KEY optional)")
        return cls(url.rstrip("/"), model, env.get("ATLAS_LABELER_API_KEY"))


def build_request(config: LabelerConfig, top_tokens: list[str], output_tokens: list[str],
                  examples: list[str]) -> dict:
    """The chat-completions payload asking for one feature's label."""
    user = (f"Top activating tokens: {json.dumps(top_tokens[:10])}\n"
            f"Top output tokens: {json.dumps(output_tokens[:10])}\n"
            "Examples (activating token in [[ ]]):\n" + "\n".join(f"- {e}" for e in examples[:8]))
    return {"model": config.model, "temperature": 0.0, "max_tokens": 32,
            "messages": [{"role": "system", "content": _SYSTEM},
                         {"role": "user", "content": user}]}


def parse_response(body: dict) -> str:
    """The label text of a chat-completions response; InputError when it has none."""
    try:
        text = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as e:
        raise InputError(f"LLM labeler response has no choices[0].message.content: "
                         f"{str(body)[:200]}; check the endpoint") from e
    return " ".join(str(text).strip().strip('"').split())[:120]


def _post(config: LabelerConfig, payload: dict) -> dict:
    request = urllib.request.Request(
        f"{config.base_url}/chat/completions", data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {config.api_key}"} if config.api_key else {})})
    try:
        with urllib.request.urlopen(request, timeout=config.timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"LLM labeler at {config.base_url} failed: {e}; check "
                          "ATLAS_LABELER_BASE_URL and the server") from e


def llm_label(config: LabelerConfig, key: str, top_tokens: list[str], output_tokens: list[str],
              examples: list[str], post: Callable[[LabelerConfig, dict], dict] = _post) -> FeatureLabel:
    """Ask the endpoint for one feature's label; provenance records labeler, model and time."""
    text = parse_response(post(config, build_request(config, top_tokens, output_tokens, examples)))
    return FeatureLabel(key, text, LLM_LABELER, config.model,
                        dt.datetime.now(dt.timezone.utc).isoformat(),
                        " | ".join(examples[:5]) or None)
