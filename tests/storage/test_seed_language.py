"""``spsr seed`` and ``spsr demo`` on a registry of 15 households: English byte for byte as main printed
it (0a0c6fc), Russian and Karakalpak in their words, through the installed entry point too."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import run_cli

#: ``spsr demo`` on main after ``spsr seed --households 15 --seed 7`` with SPSR_TODAY=2026-12-10.
ENGLISH_DEMO = """\
Citizens to try (SPSR_TODAY pins the date they are described on):
  [uz] enrolled  Raufov Jamshid Bahrom oʻgʻli
      PINFL 32601813730628  phone +998949844526  household 1
      enrolled in child_benefit: 440,000 so'm for 2026-12, paid between 2026-12-04 and 2026-12-27 (scheduled)
  [uz] rejected  Nozimova Tursunoy Nurbek qizi
      PINFL 40310851837516  phone +998939739797  household 2
      application 618501536 rejected on 2026-11-07: exclusion.new_car, income.below_threshold
  [uz] waiting   Gʻulomova Odina Dilshod qizi
      PINFL 41410816071014  phone +998707331030  household 3
      application 101212826 verifying since 2026-12-05, decided in 2026-12
  [uz] grievance Shavkatov Hayot Kamoliddin oʻgʻli
      PINFL 33011915699829  phone +998970158713  household 4
      grievance 175803555 (payment) in_progress, received 2026-12-05, due 2026-12-20
  [uz] can_apply Ergashov Nuriddin Azamat oʻgʻli
      PINFL 30208892595324  phone +998990368171  household 5
      has not applied; would qualify today (poor, 440,000 so'm a month)
  [kaa] enrolled  Ótepov Orınbay Baymurat ulı
      PINFL 32507832501323  phone +998505236450  household 6
      enrolled in child_benefit: 550,000 so'm for 2026-12, paid between 2026-12-04 and 2026-12-27 (scheduled)
  [kaa] rejected  Jalǵasov Bekmurat Tólepbergen ulı
      PINFL 30201953502156  phone +998889216152  household 7
      application 549346695 rejected on 2026-11-13: income.above_threshold
  [kaa] waiting   Allanazarov Dáwletmurat Qalmurat ulı
      PINFL 30103864382820  phone +998973300306  household 8
      application 032057983 submitted since 2026-12-09, decided in 2026-12
  [kaa] grievance Qıdırbayev Ájiniyaz Ibrayım ulı
      PINFL 30108878667688  phone +998976441899  household 9
      grievance 634776265 (payment) in_progress, received 2026-12-05, due 2026-12-20
  [kaa] can_apply Esbergenov Qıdırbay Qıdırbay ulı
      PINFL 33006828171021  phone +998929635068  household 10
      has not applied; would qualify today (poor, 440,000 so'm a month)
  [ru] enrolled  Gʻaniyev Rasul Shavkatovich
      PINFL 30406814762959  phone +998508378043  household 11
      enrolled in child_benefit: 660,000 so'm for 2026-12, paid between 2026-12-04 and 2026-12-27 (scheduled)
  [ru] rejected  Abdullayeva Matluba Erkinovna
      PINFL 42709848984841  phone +998909425610  household 12
      application 480191854 rejected on 2026-11-18: exclusion.second_residence, exclusion.bank_balance, income.below_threshold
  [ru] waiting   Antonov Ruslan Maksimovich
      PINFL 31611914611042  phone +998902567203  household 13
      application 962903144 verifying since 2026-12-07, decided in 2026-12
  [ru] grievance Yegorov Vladimir Anatoliyevich
      PINFL 31101871958145  phone +998778064133  household 14
      grievance 141225790 (payment) in_progress, received 2026-12-05, due 2026-12-20
  [ru] can_apply Stepanov Roman Gennadiyevich
      PINFL 32704916823739  phone +998959949255  household 15
      has not applied; would qualify today (poor, 440,000 so'm a month)
"""
#: main's summary line, but for the seconds and the rate it took.
ENGLISH_SEEDED = re.compile(
    r"seeded 15 households in \d+\.\d s \(\d[\d,]* households/s\): 15 households, 65 persons, 114 incomes, "
    r"1 vehicles, 16 properties, 1 bank_balances, 0 notebook_memberships, 15 contacts, 12 applications, "
    r"9 decisions, 6 enrolments, 12 payroll_lines, 78 exchange_records, 78 facts, 3 grievances\n")


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SPSR_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'spsr.db'}")
    monkeypatch.setenv("SPSR_TODAY", "2026-12-10")
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def spsr(monkeypatch: pytest.MonkeyPatch, language: str, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setenv("SPSR_LANGUAGE", language)
    return await asyncio.to_thread(run_cli, *argv)


async def test_seed_and_demo_in_english_are_byte_for_byte_as_before(
        registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert await spsr(monkeypatch, "en", "db", "current") == (0, "database: empty; newest: 0017\n", "")
    code, out, _ = await spsr(monkeypatch, "en", "seed", "--households", "15", "--seed", "7")
    first, rest = out.split("\n", 1)
    assert code == 0 and ENGLISH_SEEDED.fullmatch(first + "\n"), first
    assert rest == ENGLISH_DEMO
    assert await spsr(monkeypatch, "en", "demo") == (0, ENGLISH_DEMO, "")
    assert await spsr(monkeypatch, "en", "seed", "--households", "15", "--if-empty") == (
        0, "the registry already holds households: nothing seeded (--if-empty)\n", "")
    assert await spsr(monkeypatch, "en", "seed", "--households", "3", "--lanes", "2") == (
        2, "", "spsr seed: --lanes needs PostgreSQL (SQLite has one writer: lanes would only wait for it)\n")
    assert await spsr(monkeypatch, "en", "db", "upgrade") == (0, "database at revision 0017\n", "")


async def test_seed_and_demo_speak_russian_and_karakalpak(registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = await spsr(monkeypatch, "ru", "seed", "--households", "15", "--seed", "7")
    assert code == 0
    assert re.match(r"добавлено семей: 15 за \d+,\d с \(\d[\d ]* в секунду\); строк в таблицах: семьи — 15, "
                    r"люди — 65, доходы — 114, транспортные средства — 1, ", out), out
    assert "\nГраждане для проверки каналов (SPSR_TODAY задаёт дату, на которую они описаны):\n" in out
    assert ("  [ru] отказано     Abdullayeva Matluba Erkinovna\n"
            "      ПИНФЛ 42709848984841  телефон +998909425610  семья 12\n"
            "      заявка 480191854 отклонена 2026-11-18: exclusion.second_residence, exclusion.bank_balance, "
            "income.below_threshold\n") in out
    code, out, _ = await spsr(monkeypatch, "kaa", "demo")
    assert code == 0 and out.startswith("Sınap kóriw ushın puqaralar (SPSR_TODAY olar qaysı sánege qarap ")
    assert ("  [kaa] múrájat         Qıdırbayev Ájiniyaz Ibrayım ulı\n"
            "      JShShIR 30108878667688  telefon +998976441899  shańaraq 9\n"
            "      634776265 nomerli múrájat (payment): jaǵdayı in_progress, qabıllanǵan 2026-12-05, "
            "juwap múddeti 2026-12-20\n") in out
    assert await spsr(monkeypatch, "kaa", "seed", "--households", "15", "--if-empty") == (
        0, "reestrde shańaraqlar bar: hesh nárse qosılmadı (--if-empty)\n", "")
    assert await spsr(monkeypatch, "uz", "db", "upgrade") == (0, "maʼlumotlar bazasi reviziyasi: 0017\n", "")


def test_the_installed_command_follows_lang(registry: Path) -> None:
    command = Path(sys.executable).with_name("spsr")
    env = {**os.environ, "LANG": "ru_RU.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}
    env.pop("SPSR_LANGUAGE")
    current = subprocess.run([command, "db", "current"], env=env, capture_output=True, text=True, timeout=120)
    assert (current.returncode, current.stdout) == (0, "база данных: пустая; новейшая ревизия: 0017\n")
    listed = subprocess.run([command, "demo"], env=env, capture_output=True, text=True, timeout=120)
    assert (listed.returncode, listed.stdout) == (0, "демонстрационных граждан нет: сначала выполните «spsr seed»\n")
    english = subprocess.run([command, "demo"], env={**env, "SPSR_LANGUAGE": "en"}, capture_output=True,
                             text=True, timeout=120)
    assert english.stdout == "no demo citizens: run `spsr seed` first\n"
