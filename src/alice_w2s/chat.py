"""Render a chat with the model's chat template, the same on every day.

Llama 3.x templates print a "Today Date:" line into the system turn. Llama 3.2's
takes it from ``strftime_now`` (the day the job runs) unless the caller passes
``date_string``; a prompt that changes with the day changes per-request seeds,
samples and results. Every chat is therefore rendered with ``date_string`` fixed
to ``CHAT_DATE``, the templates' own fallback value. Templates that do not use
the variable ignore it.
"""

from __future__ import annotations

from typing import Any

CHAT_DATE = "26 Jul 2024"


def render_chat(tokenizer: Any, chat: list[dict[str, str]], **kwargs: Any) -> Any:
    """``tokenizer.apply_chat_template(chat, **kwargs)`` with the date fixed."""
    return tokenizer.apply_chat_template(chat, date_string=CHAT_DATE, **kwargs)
