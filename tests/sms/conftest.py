from tests.ussd.conftest import demo  # noqa: F401  (the same demo households)
