"""The GAN classes: ``GAN`` (the core and its train step), its variants as subclasses (``WGANGP``,
``InfoGAN``, ``InfoWGANGP``, ``InstanceNoiseGAN``, ``FeatureMatchingGAN``,
``Pix2Pix``), and the losses they use."""
