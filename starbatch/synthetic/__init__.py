"""Synthetic pictures made on the spot: a face renderer in CelebA's and RaFD's layouts (training
where no data set can be downloaded, tests, detector tuning) and photo-like stand-ins."""
