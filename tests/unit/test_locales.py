"""Every message id exists in every locale, with the same placeholders."""

import locales


def test_same_ids_and_placeholders_everywhere():
    ref = locales.catalog(locales.DEFAULT)
    assert ref, "the Vietnamese catalog is empty"
    for loc in locales.available():
        cat = locales.catalog(loc)
        assert set(cat) == set(ref), f"{loc}: missing {set(ref) - set(cat)}, extra {set(cat) - set(ref)}"
        for key, text in ref.items():
            assert locales.placeholders(cat[key]) == locales.placeholders(text), f"{loc}:{key}"


def test_engine_message_ids_exist():
    """Every message id the code names (strings like "link.ask_code") is in the catalog."""
    import re
    from pathlib import Path

    ref = locales.catalog(locales.DEFAULT)
    sections = {k.split(".", 1)[0] for k in ref}
    pattern = re.compile(r"""["']((?:{})\.[a-z0-9_.]+)["']""".format("|".join(sorted(sections))))
    root = Path(__file__).resolve().parents[2]
    missing = set()
    for folder in ("dialogs", "bot", "storage", "web"):
        for f in [*(root / folder).rglob("*.py"), *(root / folder).rglob("*.html")]:
            for m in pattern.finditer(f.read_text("utf-8")):
                if m.group(1) not in ref and not m.group(1).endswith("."):
                    missing.add(f"{f.name}: {m.group(1)}")
    assert not missing, sorted(missing)


def test_vietnamese_is_default_and_has_diacritics():
    assert locales.DEFAULT == "vi"
    assert "ạ" in locales.t("vi", "common.not_understood") or "ỗ" in locales.t("vi", "common.not_understood")


def test_data_that_is_not_a_message_id_is_shown_as_is():
    for name in ("Nguyễn Thị {A}", "Lê } Văn", "Trần {0} B"):
        assert locales.t("vi", name) == name


def _help_texts(parser) -> list[str]:
    """Every description and help text of a parser and its subcommands (not argparse's own)."""
    import argparse  # noqa: PLC0415

    seen = [parser.description]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen += [choice.help for choice in action._choices_actions]
            for sub in action.choices.values():
                seen += _help_texts(sub)
        elif action.help not in (None, argparse.SUPPRESS) and not isinstance(action, argparse._HelpAction):
            seen.append(action.help)
    return [h for h in seen if h is not None]


def test_command_line_help_comes_from_locales(monkeypatch):
    from bot import cli  # noqa: PLC0415

    for locale in ("vi", "en"):
        monkeypatch.setenv("DEFAULT_LOCALE", locale)
        seen = _help_texts(cli.build_parser())
        assert len(seen) > 50
        assert [h for h in seen if h not in set(locales.catalog(locale).values())] == []
