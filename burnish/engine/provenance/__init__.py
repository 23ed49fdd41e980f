"""What was done to an image, recorded: the JSON sidecar and XMP, C2PA Content Credentials,
the environment that ran it, and the non-destructive edit history."""
