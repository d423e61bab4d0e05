"""The console's account rules: emails lower-cased, passwords of at least 12 characters kept
as argon2id hashes, a wrong or unknown account indistinguishable."""

import pytest
from argon2 import PasswordHasher

from ordertrack import accounts
from ordertrack.accounts import AccountError


def test_an_email_is_lower_cased_and_trimmed():
    assert accounts.normal_email("  Ada@Shop.Example ") == "ada@shop.example"


@pytest.mark.parametrize("email", ["", "ada", "ada@", "@shop.example", "ada@shop", "a da@shop.ex"])
def test_what_is_not_an_email_is_refused(email):
    with pytest.raises(AccountError):
        accounts.normal_email(email)


@pytest.mark.parametrize(
    ("password", "says"),
    [("", "empty"), ("            ", "empty"), ("short", "at least 12"), ("x" * 11, "at least 12")],
)
def test_an_empty_or_short_password_is_refused(password, says):
    with pytest.raises(AccountError, match=says):
        accounts.check_password(password)


def test_a_password_is_kept_as_an_argon2id_hash_that_verifies_only_itself():
    stored = accounts.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert accounts.password_matches(stored, "correct horse battery")
    assert not accounts.password_matches(stored, "correct horse batterx")


def test_no_account_is_a_mismatch_after_the_same_work():
    assert not accounts.password_matches(None, "correct horse battery")
    assert not accounts.password_matches("not a hash", "correct horse battery")


def test_a_hash_made_with_weaker_parameters_needs_a_rehash():
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct horse battery")
    assert accounts.needs_rehash(weak)
    assert not accounts.needs_rehash(accounts.hash_password("correct horse battery"))


def test_a_role_is_admin_or_staff():
    assert accounts.checked_role("staff") == "staff"
    with pytest.raises(AccountError, match="role must be one of"):
        accounts.checked_role("owner")
