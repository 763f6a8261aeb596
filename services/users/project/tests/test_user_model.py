"""The course's four model tests."""

import unittest

from sqlalchemy.exc import IntegrityError

from project import db
from project.api.models import User
from project.tests.base import BaseTestCase
from project.tests.utils import add_user


class TestUserModel(BaseTestCase):

    def test_add_user(self):
        """Ensure a new user gets an id and is active."""
        user = add_user("justatest", "test@test.com")
        self.assertTrue(user.id)
        self.assertEqual(user.username, "justatest")
        self.assertEqual(user.email, "test@test.com")
        self.assertTrue(user.active)

    def test_add_user_duplicate_username(self):
        """Ensure the database refuses a second user with the same username."""
        add_user("justatest", "test@test.com")
        db.session.add(User(username="justatest", email="test@test2.com"))
        self.assertRaises(IntegrityError, db.session.commit)

    def test_add_user_duplicate_email(self):
        """Ensure the database refuses a second user with the same email."""
        add_user("justatest", "test@test.com")
        db.session.add(User(username="justatest2", email="test@test.com"))
        self.assertRaises(IntegrityError, db.session.commit)

    def test_to_json(self):
        """Ensure to_json gives the four public fields."""
        user = add_user("justatest", "test@test.com")
        self.assertEqual(
            user.to_json(),
            {"id": user.id, "username": "justatest", "email": "test@test.com",
             "active": True},
        )


if __name__ == "__main__":
    unittest.main()
