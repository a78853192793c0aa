"""Each staff command family refuses in the operator's language (uz, kaa, ru), the code in brackets
at the end, on SQLite and PostgreSQL; SPSR_LANGUAGE wins over LANG."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.cli import run_cli

pytestmark = pytest.mark.postgres


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("SPSR_DATABASE_URL", database_url)
    monkeypatch.setenv("SPSR_TODAY", "2026-12-10")
    folder = tmp_path / "files"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


async def spsr(monkeypatch: pytest.MonkeyPatch, language: str | None, *argv: str, lang: str = "") -> tuple[int, str, str]:
    if language is None:
        monkeypatch.delenv("SPSR_LANGUAGE", raising=False)
    else:
        monkeypatch.setenv("SPSR_LANGUAGE", language)
    monkeypatch.setenv("LANG", lang)
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    return await asyncio.to_thread(run_cli, *argv)


@pytest.mark.parametrize(("language", "said"), [
    ("uz", "spsr payroll: rad etildi: 2027-05 uchun toʻlov qaydnomasi yoʻq; avval uni "
           "«spsr payroll open --month 2027-05» buyrugʻi bilan oching (payroll.not_found)\n"),
    ("kaa", "spsr payroll: biykarlandı: 2027-05 ushın tólem dizimi joq; áwele onı "
            "«spsr payroll open --month 2027-05» buyrıǵı menen ashıń (payroll.not_found)\n"),
    ("ru", "spsr payroll: отказано: ведомости за 2027-05 нет; сначала откройте её: "
           "'spsr payroll open --month 2027-05' (payroll.not_found)\n"),
    (None, "spsr payroll: refused: there is no payroll for 2027-05; open it first with "
           "'spsr payroll open --month 2027-05' (payroll.not_found)\n"),
])
async def test_payroll_refuses_in_the_operator_s_language(
        env: Path, monkeypatch: pytest.MonkeyPatch, language: str | None, said: str) -> None:
    code, out, err = await spsr(monkeypatch, language, "payroll", "approve", "--month", "2027-05", "--by", "bob")
    assert (code, out, err) == (2, "", said)


async def test_the_locale_of_lang_is_followed_and_spsr_language_wins_over_it(
        env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ("payroll", "approve", "--month", "2027-05", "--by", "bob")
    _, _, err = await spsr(monkeypatch, None, *argv, lang="ru_RU.UTF-8")
    assert err.startswith("spsr payroll: отказано: ведомости за 2027-05 нет;")
    _, _, err = await spsr(monkeypatch, "uz", *argv, lang="ru_RU.UTF-8")
    assert err.startswith("spsr payroll: rad etildi: 2027-05 uchun")
    _, _, err = await spsr(monkeypatch, "en", *argv, lang="ru_RU.UTF-8")
    assert err.startswith("spsr payroll: refused: there is no payroll for 2027-05;")
    _, _, err = await spsr(monkeypatch, None, *argv, lang="C.UTF-8")
    assert err.startswith("spsr payroll: refused: there is no payroll for 2027-05;")


@pytest.mark.parametrize(("language", "record", "summary"), [
    ("uz", "1-qator: Maʼlumot almashish katalogida bunday idora yoʻq. {\"agency\": \"nasa\"} "
           "(exchange.unknown_agency)",
     "1 ta yozuv: qabul qilingan 0, almashtirilgan 0, eskirgan 0, oʻzgarmagan 0, rad etilgan 1 "
     "(qarang: batch.jsonl.rejected.jsonl)"),
    ("kaa", "1-qatar: Maǵlıwmat almasıw katalogında bunday mekeme joq. {\"agency\": \"nasa\"} "
            "(exchange.unknown_agency)",
     "1 jazba: qabıl etilgen 0, almastırılǵan 0, eskirgen 0, ózgermegen 0, biykarlanǵan 1 "
     "(qarań: batch.jsonl.rejected.jsonl)"),
    ("ru", "строка 1: Такого ведомства нет в каталоге обмена данными. {\"agency\": \"nasa\"} "
           "(exchange.unknown_agency)",
     "записей: 1; принято 0, заменено 0, устарело 0, без изменений 0, отклонено 1 "
     "(см. batch.jsonl.rejected.jsonl)"),
    (None, "line 1: exchange.unknown_agency {\"agency\": \"nasa\"}",
     "1 records: accepted 0, superseded 0, stale 0, unchanged 0, rejected 1 (see batch.jsonl.rejected.jsonl)"),
])
async def test_exchange_import_words_a_refused_record_in_the_operator_s_language(
        env: Path, monkeypatch: pytest.MonkeyPatch, language: str | None, record: str, summary: str) -> None:
    (env / "batch.jsonl").write_text(json.dumps({
        "agency": "nasa", "item": "soliq.wage", "pinfl": "31210632040244", "key": "2026-11/301234567",
        "value": 100000, "unit": "UZS", "as_of": "2026-12-05", "record_id": "W-1"}) + "\n")
    code, out, err = await spsr(monkeypatch, language, "exchange", "import", "--quiet", "batch.jsonl")
    assert (code, out, err) == (1, summary + "\n", record + "\n")
    assert json.loads((env / "batch.jsonl.rejected.jsonl").read_text())["code"] == "exchange.unknown_agency"


@pytest.mark.parametrize(("language", "said"), [
    ("uz", "spsr exchange: table.jsonl: 1-qator CSV sarlavhasi, lekin fayl JSON qatorlari sifatida "
           "oʻqilmoqda: uni .csv deb nomlang\n"),
    ("kaa", "spsr exchange: table.jsonl: 1-qatar CSV sarlavhası, biraq fayl JSON qatarları retinde oqılmaqta: "
            "onı .csv dep atań\n"),
    ("ru", "spsr exchange: table.jsonl: строка 1 — заголовок CSV, но файл читается как строки JSON: дайте ему "
           "расширение .csv\n"),
])
async def test_exchange_import_says_what_is_wrong_with_a_file_in_the_operator_s_language(
        env: Path, monkeypatch: pytest.MonkeyPatch, language: str, said: str) -> None:
    (env / "table.jsonl").write_text("agency,item,pinfl,value,as_of,record_id\nsoliq,soliq.wage,1,2,3,4\n")
    assert await spsr(monkeypatch, language, "exchange", "import", "--quiet", "table.jsonl") == (2, "", said)


@pytest.mark.parametrize(("language", "said"), [
    ("uz", "spsr assess: rad etildi: bugun 2026-12-09, bu oxirgi baholashdan (2026-12-10) oldingi sana; "
           "SPSR_TODAY yoki server soati orqaga surilmaganmi? Hech narsa baholanmadi (assessment.clock_behind)\n"),
    ("kaa", "spsr assess: biykarlandı: búgin 2026-12-09, bul sońǵı bahalawdan (2026-12-10) aldınǵı sáne; "
            "SPSR_TODAY yamasa server saatı artqa jıljıtılmaǵan ba? Hesh nárse bahalanbadı "
            "(assessment.clock_behind)\n"),
    ("ru", "spsr assess: отказано: сегодня 2026-12-09, это раньше последней оценки (2026-12-10); не переведены "
           "ли назад SPSR_TODAY или часы сервера? Ничего не оценено (assessment.clock_behind)\n"),
])
async def test_assess_refuses_a_clock_set_back_in_the_operator_s_language(
        env: Path, monkeypatch: pytest.MonkeyPatch, language: str, said: str) -> None:
    code, out, _ = await spsr(monkeypatch, language, "assess", "--quiet")
    assert code == 0 and out.startswith("2026-12-10: ") and "assessed" not in out, out
    monkeypatch.setenv("SPSR_TODAY", "2026-12-09")
    assert await spsr(monkeypatch, language, "assess", "--all", "--quiet") == (2, "", said)


@pytest.mark.parametrize(("language", "said"), [
    ("uz", "xato: nobody nomli mijoz yoʻq (client.not_found)\n"),
    ("kaa", "qáte: nobody atlı klient joq (client.not_found)\n"),
    ("ru", "ошибка: клиента nobody нет (client.not_found)\n"),
    (None, "error: client.not_found (name='nobody')\n"),
])
async def test_clients_refuse_in_the_operator_s_language(
        env: Path, monkeypatch: pytest.MonkeyPatch, language: str | None, said: str) -> None:
    assert await spsr(monkeypatch, language, "clients", "revoke", "nobody") == (1, said, "")


@pytest.mark.parametrize(("language", "said"), [
    ("uz", "2026-12-10: tekshirildi 0, maʼlumot kutmoqda 0, maʼqullandi 0, rad etildi 0, roʻyxatga olindi 0, "
           "muddati oʻtdi 0\n"),
    ("kaa", "2026-12-10: tekserildi 0, maǵlıwmat kútpekte 0, maqullandı 0, biykarlandı 0, dizimge alındı 0, "
            "múddeti ótti 0\n"),
    ("ru", "2026-12-10: проверено 0, ждут данных 0, одобрено 0, отказано 0, включено 0, просрочено 0\n"),
])
async def test_decide_sums_up_in_the_operator_s_language(
        env: Path, monkeypatch: pytest.MonkeyPatch, language: str, said: str) -> None:
    assert await spsr(monkeypatch, language, "decide") == (0, said, "")
