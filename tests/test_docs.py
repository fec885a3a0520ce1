"""Every environment variable the settings read is documented in the README's table."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_every_setting_variable_is_in_the_readme() -> None:
    settings = (REPO / "portal" / "settings.py").read_text()
    names = set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z_]+)"', settings))
    assert len(names) > 20
    table = (REPO / "README.md").read_text()
    assert {name for name in names if f"`{name}`" not in table} == set()
