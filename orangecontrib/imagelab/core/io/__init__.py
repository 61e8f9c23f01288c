"""Reading: folders, zip archives, annotation and box files, downloads."""
