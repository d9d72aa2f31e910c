"""dfa: Direct Feedback Alignment training with feedback from the simulated optics.

Imports torch and photonics. (Being built: see the project's issues.)
"""

__version__ = "0.1.0"
