"""An operator's template directory (``notifications.templates``) overrides the shipped en/zh
messages key by key; a language it lacks stays shipped; every mistake stops the start with the
file and key (and the Jinja line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from notify_recorder import alert, item

from alerts.notify.base import Notification
from alerts.notify.render import Renderer
from alerts.notify.templates import TemplateError, load_templates, shipped


def write(root: Path, name: str, text: str) -> Path:
    root.mkdir(exist_ok=True)
    (root / name).write_text(text, encoding="utf-8")
    return root


def test_override_per_key_and_missing_language_falls_back(tmp_path: Path) -> None:
    root = write(tmp_path / "t", "zh.yaml", (
        "rules:\n  makeup_surge: 补水异常\n"
        "lines:\n  makeup_surge: '补水 {{ pct(v) }}'\n"
        "words:\n  zone: 区域\n"))
    templates = load_templates(root)
    zh = Renderer("zh", templates=templates)
    out = zh.render(Notification.single(item(alert())))
    assert "补水异常" in out.title and "区域 north" in out.title
    assert "补水 4.2 %" in out.markdown
    # keys the file does not give stay as shipped
    assert templates.data("zh")["rules"]["pressure_drop"] == shipped("zh")["rules"]["pressure_drop"]
    assert templates.data("zh")["html"] == shipped("zh")["html"]
    # no en.yaml in the directory: English is the shipped one, also through for_language
    en = zh.for_language("en").render(Notification.single(item(alert())))
    assert en.title == Renderer("en").render(Notification.single(item(alert()))).title
    assert shipped("zh")["rules"]["makeup_surge"] != "补水异常"  # the package is untouched


def test_whole_body_override(tmp_path: Path) -> None:
    root = write(tmp_path / "t", "en.yml", "markdown: '{{ title }} ({{ count }})'\n")
    out = Renderer("en", templates=load_templates(root)).render(
        Notification.single(item(alert())))
    assert out.markdown.strip().endswith("(1)")


@pytest.mark.parametrize(("name", "text", "message"), [
    ("en.yaml", "lines:\n  makeup_srge: x\n", "en.yaml: lines.makeup_srge: unknown rule line"),
    ("en.yaml", "rule:\n  makeup_surge: x\n", "en.yaml: rule: unknown key"),
    ("en.yaml", "words:\n  zoen: z\n", "en.yaml: words.zoen: unknown word"),
    ("en.yaml", "lines:\n  makeup_surge: '{{ pct(v) '\n",
     "en.yaml: lines.makeup_surge: Jinja error on line 1"),
    ("zh.yaml", "markdown: |\n  ok\n  {% for x in alerts %}\n", "zh.yaml: markdown: Jinja error"),
    ("en.yaml", "words:\n  more: '{count} more'\n", "placeholders ['count'] are never filled"),
    ("en.yaml", "rules:\n  makeup_surge: [a]\n", "rules.makeup_surge: must be text"),
    ("en.yaml", "- a\n", "en.yaml: must be a mapping"),
    ("fr.yaml", "rules: {}\n", "fr.yaml: unknown language 'fr'"),
    ("en.yaml", "rules: [\n", "en.yaml: not readable YAML"),
])
def test_mistakes_are_named(tmp_path: Path, name: str, text: str, message: str) -> None:
    root = write(tmp_path / "t", name, text)
    with pytest.raises(TemplateError, match="message templates") as info:
        load_templates(root)
    assert message in str(info.value)


def test_every_problem_at_once_and_missing_directory(tmp_path: Path) -> None:
    root = write(tmp_path / "t", "en.yaml", "rules:\n  nope: x\nwords:\n  nada: y\n")
    with pytest.raises(TemplateError) as info:
        load_templates(root)
    assert "rules.nope" in str(info.value) and "words.nada" in str(info.value)
    with pytest.raises(TemplateError, match="does not exist"):
        load_templates(tmp_path / "missing")


def test_settings_check_at_start_and_channels_use_the_overrides(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from alerts.notify.channels import ChannelSettings, build_notifiers
    from alerts.notify.dingtalk import DingTalkNotifier

    bad = write(tmp_path / "bad", "zh.yaml", "lines:\n  makeup_srge: x\n")
    with pytest.raises(ValidationError, match=r"zh.yaml: lines.makeup_srge: unknown rule"):
        ChannelSettings.model_validate({"templates": str(bad)})
    good = write(tmp_path / "good", "zh.yaml", "rules:\n  makeup_surge: 补水异常 (本厂措辞)\n")
    settings = ChannelSettings.model_validate({
        "templates": str(good), "language": "zh",
        "dingtalk": {"d": {"access_token": "tok-1", "url": "http://127.0.0.1:9/robot/send"}}})
    notifier = build_notifiers(settings)["d"]
    assert isinstance(notifier, DingTalkNotifier)
    body = notifier.body(Notification.single(item(alert())))
    assert "补水异常 (本厂措辞)" in body["markdown"]["title"]
    notifier.close()
