"""Weather forecasts and what they predict for stations and flats (issue #17)."""
