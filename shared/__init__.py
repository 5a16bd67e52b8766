"""Code that both the web process and the workers import (no TensorFlow, no Flask)."""
