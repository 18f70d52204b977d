"""The Tools page: check, resize, merge and the sample grid."""
