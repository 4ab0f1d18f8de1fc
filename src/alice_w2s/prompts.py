"""Prompt templates live as text files in a folder (``resources/prompts/`` of the
workflow unless config ``prompts.directory`` names another).

A template is addressed by a relative name (``question/number.txt``); config may
point any name at another file (``prompts.overrides``). Fields are filled with
``str.format``; values are inserted verbatim. The folder is always given (a rule's
``prompts`` param names it, see ``prompt_params`` in rules/common.smk): this module
does not guess where the workflow lives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Prompts:
    directory: Path
    overrides: dict[str, str] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        path = Path(self.overrides.get(name, self.directory / name))
        if not path.exists():
            raise FileNotFoundError(f"prompt template {name!r} not found at {path}")
        return path

    def text(self, name: str) -> str:
        return self.path(name).read_text().rstrip("\n")

    def render(self, name: str, **fields: str) -> str:
        try:
            return self.text(name).format(**fields)
        except KeyError as err:
            raise ValueError(f"prompt template {self.path(name)} uses unknown field {err}") from None

    def digest(self, *names: str) -> str:
        """Hash of the named templates' contents, for manifests and rerun triggers."""
        sha = hashlib.sha256()
        for name in names:
            sha.update(name.encode() + b"\0" + self.text(name).encode() + b"\0")
        return sha.hexdigest()[:16]

    # The user turn every model sees for a question (training, sampling, eval).
    def question(self, answer_type: str, question: str) -> str:
        return self.render(f"question/{answer_type}.txt", question=question)


def prompts_from_settings(settings: dict) -> Prompts:
    """A rule's prompt settings -> Prompts. Relative paths (the folder, the overrides)
    are relative to the job's working directory, like every path a rule passes."""
    return Prompts(Path(settings["directory"]), dict(settings["overrides"]))


def user_chat(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def prompts_from(params: object) -> Prompts:
    """The Prompts a rule's ``prompts`` param (see ``prompt_params`` in rules/common.smk) names."""
    return prompts_from_settings(dict(params.prompts))  # type: ignore[attr-defined]
