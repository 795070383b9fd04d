"""Operations: doctor, metrics, outages, garbage collection, backup and restore."""
