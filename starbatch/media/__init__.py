"""Photos and video in and out, which files to edit and where results go."""
