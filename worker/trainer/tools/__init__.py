"""Offline tools: train the shipped models, evaluate them, write the model card, measure the
learning curve. Run from the command line; the running trainer and predict apps load none
of them (tests/worker/trainer/test_offline_apart.py).
"""
