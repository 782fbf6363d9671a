"""Text from notes, imports or coders shown inside Streamlit markdown (titles, captions, labels).

Markdown would read `*`, `[..](..)` or `:red[..]` in a note id or a coder's name as formatting;
backslash-escaping every ASCII punctuation mark shows the text as typed (CommonMark allows it).
"""

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def plain(text: object) -> str:
    return _PUNCTUATION.sub(r"\\\1", str(text))
