"""The readiness check of a pooled connection's socket, with either poll."""

import socket
import unittest

from project import polling


class TestHasInput(unittest.TestCase):

    def setUp(self):
        self.ours, self.theirs = socket.socketpair()
        self.addCleanup(self.ours.close)
        self.addCleanup(self.theirs.close)
        self.polls = {"C library": polling.has_input, "select": polling.select_has_input}

    def assert_every_poll(self, expected):
        for name, has_input in self.polls.items():
            with self.subTest(poll=name):
                self.assertIs(has_input(self.ours.fileno()), expected)

    def test_the_c_library_poll_is_loaded(self):
        """Ensure poll(2) is called through ctypes here (Linux), not the fallback."""
        self.assertIsNotNone(polling.C_POLL)

    def test_an_idle_socket_has_nothing(self):
        """Ensure a socket with nothing sent has no input."""
        self.assert_every_poll(False)

    def test_a_message_waiting_is_input(self):
        """Ensure a socket with bytes waiting has input (a server's last message)."""
        self.theirs.sendall(b"E")
        self.assert_every_poll(True)

    def test_the_other_end_closed_is_input(self):
        """Ensure a socket whose other end closed has input (its end of file)."""
        self.theirs.close()
        self.assert_every_poll(True)

    def test_a_descriptor_number_reused_is_asked_about_anew(self):
        """Ensure a new socket on a closed one's descriptor number gets its own answer."""
        self.theirs.sendall(b"E")
        self.assert_every_poll(True)
        number = self.ours.fileno()
        self.ours.close()
        self.theirs.close()
        self.ours, self.theirs = socket.socketpair()
        self.addCleanup(self.ours.close)
        self.addCleanup(self.theirs.close)
        self.assertEqual(self.ours.fileno(), number)
        self.assert_every_poll(False)
