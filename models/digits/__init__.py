"""A small convolutional network on 8x8 digit images, trained through autograd_np (public API only).

    python -m models.digits            # scikit-learn's bundled digits (pip install -e ".[digits]")

``data.py`` loads the digits (or generates stroke images when scikit-learn is absent, and for
the tests); ``model.py`` is the net; ``train.py`` the loop and the accuracy.
"""
