"""Coding: the code each nerve episode is reported with (chosen once per hook call) and the billing lines."""
