--[[
    Info.lua - blurwatch for Lightroom Classic: what the plug-in adds to Lightroom.

    Library > Plug-in Extras > "Cull with blurwatch" scores the selected photos with the
    blurwatch program and shows its verdicts in the catalog (reject flag, yellow label
    for review, keywords under "blurwatch"). See plugin/README.md.

    Copyright (C) the blurwatch authors. Licence: GPL-3.0-or-later.
]]

return {
  LrSdkVersion = 6.0,
  LrSdkMinimumVersion = 6.0,
  LrToolkitIdentifier = "org.blurwatch.lightroom",
  LrPluginName = LOC "$$$/blurwatch/PluginName=blurwatch",
  LrPluginInfoProvider = "PluginInfoProvider.lua",
  LrLibraryMenuItems = {
    {
      title = LOC "$$$/blurwatch/CullMenu=Cull with blurwatch",
      file = "CullMenuItem.lua",
      enabledWhen = "photosSelected",
    },
  },
  VERSION = { major = 0, minor = 1, revision = 0 },
}
