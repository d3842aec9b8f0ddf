"""Tests of the sandbox emulators."""
